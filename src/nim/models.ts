import type { Logger } from 'pino';
import { type NormalizedBaseUrl, normalizeBaseUrl } from './base-url.js';
import type { NimClient } from './nim-client.js';
import type { ProviderProbe } from './readiness.js';

/** The hosted catalog's default embedding model (1024 dimensions): the one the compose files run, so one store serves both. */
export const DEFAULT_HOSTED_EMBEDDINGS_MODEL = 'nvidia/nv-embedqa-e5-v5';

interface KnownModel {
  id: string;
  /** Old catalog names that still resolve, with a deprecation warning, as in the Python client. */
  aliases: string[];
  /** Hosted models served away from the catalog's /v1 root. */
  hostedBaseUrl?: string;
}

const KNOWN_MODELS: KnownModel[] = [
  {
    id: 'mistralai/mixtral-8x7b-instruct-v0.1',
    aliases: ['ai-mixtral-8x7b-instruct', 'playground_mixtral_8x7b', 'mixtral_8x7b'],
  },
  {
    id: 'mistralai/mistral-7b-instruct-v0.2',
    aliases: ['ai-mistral-7b-instruct-v2', 'playground_mistral_7b', 'mistral_7b'],
  },
  { id: 'mistralai/mixtral-8x22b-instruct-v0.1', aliases: ['ai-mixtral-8x22b-instruct'] },
  { id: 'mistralai/mistral-large', aliases: ['ai-mistral-large'] },
  { id: 'meta/llama2-70b', aliases: ['ai-llama2-70b', 'playground_llama2_70b', 'llama2_70b', 'playground_llama2_13b', 'llama2_13b'] },
  { id: 'meta/llama3-8b-instruct', aliases: ['ai-llama3-8b'] },
  { id: 'meta/llama3-70b-instruct', aliases: ['ai-llama3-70b'] },
  { id: 'google/gemma-7b', aliases: ['ai-gemma-7b', 'playground_gemma_7b', 'gemma_7b'] },
  { id: 'google/gemma-2b', aliases: ['ai-gemma-2b', 'playground_gemma_2b', 'gemma_2b'] },
  { id: 'microsoft/phi-3-mini-4k-instruct', aliases: ['ai-phi-3-mini-4k', 'playground_phi2', 'phi2'] },
  {
    id: 'NV-Embed-QA',
    aliases: ['ai-embed-qa-4', 'playground_nvolveqa_40k', 'nvolveqa_40k'],
    hostedBaseUrl: 'https://ai.api.nvidia.com/v1/retrieval/nvidia',
  },
  { id: 'nvidia/nv-embedqa-e5-v5', aliases: [] },
  { id: 'nvidia/nv-embed-v1', aliases: ['ai-nv-embed-v1'] },
  { id: 'snowflake/arctic-embed-l', aliases: ['ai-arctic-embed-l'] },
];

/** The canonical id for a model name; an old catalog alias resolves with a deprecation warning. */
export function resolveModelAlias(name: string, logger: Logger): string {
  const known = KNOWN_MODELS.find((model) => model.aliases.includes(name));
  if (!known) return name;
  logger.warn({ alias: name, model: known.id }, `Model ${name} is deprecated. Using ${known.id} instead.`);
  return known.id;
}

/**
 * The base URL to call for a model: the hosted catalog's own address for it, taken as the catalog
 * gives it (NV-Embed-QA lives under /v1/retrieval/nvidia, with no /v1 at the end), else the
 * configured URL, normalised.
 */
export function baseUrlFor(configuredUrl: string, hostedModel: string | undefined): NormalizedBaseUrl {
  const hosted = hostedModel && KNOWN_MODELS.find((known) => known.id === hostedModel)?.hostedBaseUrl;
  return hosted ? { url: hosted, warning: undefined } : normalizeBaseUrl(configuredUrl);
}

interface ModelList {
  data?: Array<{ id?: unknown; root?: unknown }>;
}

export type ModelKind = 'embedding' | 'chat';

const EMBEDDING_NAME = /embed|e5-|bge-|retriev/i;
const CHAT_NAME = /instruct|chat|mixtral|mistral|llama|gemma|phi-|nemotron|qwen|gpt/i;

/** What a model does, from its name (NIM model lists do not say); undefined when the name does not tell. */
export function modelKind(id: string): ModelKind | undefined {
  if (EMBEDDING_NAME.test(id)) return 'embedding';
  if (CHAT_NAME.test(id)) return 'chat';
  return undefined;
}

/**
 * The model a self-hosted NIM serves, from GET {base}/models: among the listed models that are not
 * derivatives (no `root`, or `root` equal to its id), as the Python client picks them, the first of
 * the kind wanted. One address may serve several models (a NIM proxy): the chat model must not
 * become the embedding model because it was listed first. A NIM listing one model whose name does
 * not tell its kind serves that one.
 */
export async function discoverModel(client: NimClient, logger: Logger, kind: ModelKind): Promise<string> {
  const list = await client.getJson<ModelList>('/models', { model: '(discovery)' });
  const ids = (list.data ?? [])
    .filter((entry) => typeof entry.id === 'string' && (entry.root === undefined || entry.root === null || entry.root === entry.id))
    .map((entry) => entry.id as string);
  if (ids.length === 0) throw new Error(`the NIM at ${client.baseUrl} lists no models at GET /models; set the model explicitly`);
  const chosen = ids.find((id) => modelKind(id) === kind) ?? (ids.length === 1 && modelKind(ids[0] as string) === undefined ? ids[0] : undefined);
  if (!chosen) {
    throw new Error(`the NIM at ${client.baseUrl} lists no ${kind} model at GET /models (it lists ${ids.join(', ')}); set the model explicitly`);
  }
  logger.info({ url: client.baseUrl, model: chosen, served: ids }, `using ${kind} model ${chosen}, discovered from ${client.baseUrl}/models`);
  return chosen;
}

/** Readiness that also fails when the model is, by its name, of the other kind: it cannot do this job. */
export function kindCheckedProbe(probe: ProviderProbe, model: string, kind: ModelKind): ProviderProbe {
  const actual = modelKind(model);
  if (actual === undefined || actual === kind) return probe;
  return async () => ({ ...(await probe()), ready: false, detail: `${model} is an ${actual === 'embedding' ? 'embedding' : 'chat'} model; it cannot serve ${kind === 'chat' ? 'chat completions' : 'embeddings'}` });
}
