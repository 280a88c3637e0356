import type { ProviderProbe, ProviderStatus } from '../nim/readiness.js';
import type { HnswStore } from '../store/hnsw-store.js';

export interface Readiness {
  status: 'ready' | 'not_ready';
  /** True when either provider is the embedded offline one. */
  offline: boolean;
  providers: { embeddings: ProviderStatus; llm: ProviderStatus };
  store: { backend: 'hnsw'; embedding_model: string; dimensions: number | null; collections: number; documents: number; chunks: number };
}

/** How long the anonymous summary is reused: callers without a key cannot make the service probe its NIMs faster. */
const SUMMARY_TTL_MS = 5000;

export class HealthService {
  private summaryCache: { at: number; value: Promise<Pick<Readiness, 'status' | 'offline'>> } | undefined;

  constructor(
    private readonly store: HnswStore,
    private readonly probes: { embeddings: ProviderProbe; llm: ProviderProbe },
  ) {}

  /** Ready or not, and whether offline, from a check at most SUMMARY_TTL_MS old. */
  summary(): Promise<Pick<Readiness, 'status' | 'offline'>> {
    const now = performance.now();
    if (!this.summaryCache || now - this.summaryCache.at > SUMMARY_TTL_MS) {
      this.summaryCache = { at: now, value: this.readiness().then(({ status, offline }) => ({ status, offline })) };
    }
    return this.summaryCache.value;
  }

  async readiness(): Promise<Readiness> {
    const [embeddings, llm] = await Promise.all([this.probes.embeddings(), this.probes.llm()]);
    return {
      status: embeddings.ready && llm.ready ? 'ready' : 'not_ready',
      offline: embeddings.provider === 'local' || llm.provider === 'local',
      providers: { embeddings, llm },
      store: {
        backend: 'hnsw',
        embedding_model: this.store.embeddingModel,
        dimensions: this.store.dimensions ?? null,
        ...this.store.totals(),
      },
    };
  }
}
