import type { components } from '../api/operations.js';
import { mayTouch, type Principal, UNRESTRICTED } from '../auth/principal.js';
import type { ProviderProbe } from '../nim/readiness.js';
import type { DocumentStore } from '../store/store-contract.js';

type ContractReadiness = components['schemas']['Readiness'];

/** The store's part of readiness, as openapi.yaml declares it. */
export type StoreReadiness = NonNullable<ContractReadiness['store']>;

/** Readiness as a caller with a key sees it: every part present. */
export type Readiness = Required<ContractReadiness>;

/** How long the anonymous summary is reused: callers without a key cannot make the service probe its NIMs faster. */
const SUMMARY_TTL_MS = 5000;

export class HealthService {
  private summaryCache: { at: number; value: Promise<Pick<Readiness, 'status' | 'offline'>> } | undefined;

  constructor(
    private readonly store: DocumentStore,
    private readonly probes: { embeddings: ProviderProbe; llm: ProviderProbe },
    /** What condenses follow-up questions: the LLM's model name, or local-keywords offline. */
    private readonly rewriter: string,
  ) {}

  /** Ready or not, and whether offline, from a check at most SUMMARY_TTL_MS old. */
  summary(): Promise<Pick<Readiness, 'status' | 'offline'>> {
    const now = performance.now();
    if (!this.summaryCache || now - this.summaryCache.at > SUMMARY_TTL_MS) {
      this.summaryCache = { at: now, value: this.readiness().then(({ status, offline }) => ({ status, offline })) };
    }
    return this.summaryCache.value;
  }

  /** Everything; the store's sizes count only the collections the principal may touch, so no key learns of others'. */
  async readiness(principal: Principal = UNRESTRICTED): Promise<Readiness> {
    const [embeddings, llm, store] = await Promise.all([this.probes.embeddings(), this.probes.llm(), this.storeReadiness(principal)]);
    return {
      status: embeddings.ready && llm.ready && store.ready ? 'ready' : 'not_ready',
      offline: embeddings.provider === 'local' || llm.provider === 'local',
      providers: { embeddings, llm, rewriter: this.rewriter },
      store,
    };
  }

  private async storeReadiness(principal: Principal): Promise<StoreReadiness> {
    const identity = { backend: this.store.backend, embedding_model: this.store.embeddingModel, dimensions: this.store.dimensions ?? null };
    const health = await this.store.health();
    if (!health.ready) return { ...identity, ready: false, ...(health.detail ? { detail: health.detail } : {}) };
    try {
      const summaries = (await this.store.list()).filter((summary) => mayTouch(principal, summary.name));
      return {
        ...identity,
        ready: true,
        collections: summaries.length,
        documents: summaries.reduce((sum, summary) => sum + summary.documents, 0),
        chunks: summaries.reduce((sum, summary) => sum + summary.chunks, 0),
      };
    } catch (error) {
      return { ...identity, ready: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }
}
