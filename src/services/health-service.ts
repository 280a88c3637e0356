import type { ProviderProbe, ProviderStatus } from '../nim/readiness.js';
import type { HnswStore } from '../store/hnsw-store.js';

export interface Readiness {
  status: 'ready' | 'not_ready';
  /** True when either provider is the embedded offline one. */
  offline: boolean;
  providers: { embeddings: ProviderStatus; llm: ProviderStatus };
  store: { backend: 'hnsw'; embedding_model: string; dimensions: number | null; collections: number; documents: number; chunks: number };
}

export class HealthService {
  constructor(
    private readonly store: HnswStore,
    private readonly probes: { embeddings: ProviderProbe; llm: ProviderProbe },
  ) {}

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
