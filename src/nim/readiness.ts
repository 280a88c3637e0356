import { type ModelKind, modelKind, type NVIDIAClient } from '@nim-rag/langchain-nvidia';
import type { ModelHealth } from './model-health.js';

export interface ProviderStatus {
  provider: 'nim' | 'local';
  model: string;
  url?: string;
  ready: boolean;
  detail: string;
}

export type ProviderProbe = () => Promise<ProviderStatus>;

const PROBE_TIMEOUT_MS = 3000;

/**
 * Whether a NIM can serve a model. A failure seen on a real call that says the model itself is
 * unusable (retired, not entitled, degraded, bad key) makes it not ready until a call succeeds; so
 * does a NIM that stopped answering (its last call timed out or could not connect) for a while
 * after that call, since a NIM can hang on completions while its health endpoint still says ready.
 * A self-hosted NIM is also asked `GET /v1/health/ready` (503 while its model loads); the hosted
 * catalog is not probed, so readiness checks spend none of a rate-limited key's budget.
 * Concurrent readiness checks share one probe.
 */
export function nimProbe(client: NVIDIAClient, health: ModelHealth, model: string, hosted: boolean): ProviderProbe {
  let inFlight: Promise<ProviderStatus> | undefined;
  const status = (ready: boolean, detail: string): ProviderStatus => ({ provider: 'nim', model, url: client.baseUrl, ready, detail });
  const probe = async (): Promise<ProviderStatus> => {
    const failure = health.modelFailure(model);
    if (failure) return status(false, failure.message);
    const silence = health.silence(model);
    if (silence) return status(false, `the last call did not get an answer: ${silence.message}`);
    if (hosted) return status(true, 'hosted catalog: no failing call seen');
    try {
      const response = await fetch(`${client.baseUrl}/health/ready`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await response.body?.cancel();
      return response.ok
        ? status(true, 'NIM is ready')
        : status(false, `NIM answered ${response.status} to GET /v1/health/ready (still loading the model?)`);
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      return status(false, `NIM cannot be reached: ${cause}`);
    }
  };
  return () => {
    inFlight ??= probe().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

export const localProbe =
  (model: string, detail: string): ProviderProbe =>
  async () => ({ provider: 'local', model, ready: true, detail });

/** Readiness that also fails when the model is, by its name, of another kind: it cannot do this job. */
export function kindCheckedProbe(probe: ProviderProbe, model: string, kind: ModelKind): ProviderProbe {
  const actual = modelKind(model);
  if (actual === undefined || actual === kind) return probe;
  const job = { chat: 'chat completions', embedding: 'embeddings', rerank: 'reranking' }[kind];
  return async () => ({ ...(await probe()), ready: false, detail: `${model} is ${actual === 'embedding' ? 'an' : 'a'} ${actual} model; it cannot serve ${job}` });
}
