import type { HnswCollection } from './hnsw-collection.js';
import type { HnswStore } from './hnsw-store.js';
import type {
  ChunkHit,
  CollectionSummary,
  DocumentStore,
  DocumentWrite,
  SearchOptions,
  StoreCollection,
  StoreFilter,
  StoredDocument,
  StoreHealth,
  UpsertResult,
  VectorTiers,
} from './store-contract.js';

/** One HNSW collection behind the store contract; its reads are synchronous in memory. */
class EmbeddedCollection implements StoreCollection {
  constructor(private readonly collection: HnswCollection) {}

  get name(): string {
    return this.collection.name;
  }

  async hasChunks(): Promise<boolean> {
    return this.collection.chunkCount > 0;
  }

  async getDocument(id: string): Promise<StoredDocument | undefined> {
    return this.collection.getDocument(id);
  }

  async contentHashes(ids: string[]): Promise<Map<string, string>> {
    const hashes = new Map<string, string>();
    for (const id of ids) {
      const document = this.collection.getDocument(id);
      if (document) hashes.set(id, document.contentHash);
    }
    return hashes;
  }

  async listDocuments(limit: number, after?: string): Promise<{ documents: StoredDocument[]; next: string | undefined }> {
    return this.collection.listDocuments(limit, after);
  }

  async reusableVectors(texts: string[]): Promise<Map<string, number[]>> {
    const vectors = new Map<string, number[]>();
    for (const text of texts) {
      const vector = this.collection.reusableVector(text);
      if (vector) vectors.set(text, vector);
    }
    return vectors;
  }

  async searchVector(vector: number[], k: number, options: SearchOptions = {}): Promise<ChunkHit[]> {
    return this.collection.searchVector(vector, k, { filter: options.filter?.matches, minScore: options.minScore });
  }

  async searchKeyword(query: string, k: number, options: SearchOptions = {}): Promise<ChunkHit[]> {
    return this.collection.searchKeyword(query, k, { filter: options.filter?.matches, minScore: options.minScore });
  }

  upsert(writes: DocumentWrite[]): Promise<UpsertResult> {
    return this.collection.upsert(writes);
  }

  deleteDocuments(ids: string[]): Promise<string[]> {
    return this.collection.deleteDocuments(ids);
  }

  deleteWhere(filter: StoreFilter): Promise<string[]> {
    return this.collection.deleteWhere(filter.matches);
  }
}

/** The embedded HNSW store on DATA_DIR (the default backend) behind the store contract. */
export class EmbeddedStore implements DocumentStore {
  readonly backend = 'hnsw';
  private readonly wrapped = new WeakMap<HnswCollection, EmbeddedCollection>();

  constructor(readonly hnsw: HnswStore) {}

  get embeddingModel(): string {
    return this.hnsw.embeddingModel;
  }

  get dimensions(): number | undefined {
    return this.hnsw.dimensions;
  }

  private wrap(collection: HnswCollection): EmbeddedCollection {
    let adapter = this.wrapped.get(collection);
    if (!adapter) {
      adapter = new EmbeddedCollection(collection);
      this.wrapped.set(collection, adapter);
    }
    return adapter;
  }

  async collection(name: string): Promise<StoreCollection | undefined> {
    const collection = this.hnsw.get(name);
    return collection && this.wrap(collection);
  }

  async getOrCreate(name: string): Promise<StoreCollection> {
    return this.wrap(await this.hnsw.getOrCreate(name));
  }

  async list(): Promise<CollectionSummary[]> {
    return this.hnsw.list();
  }

  async vectorTiers(name: string): Promise<VectorTiers> {
    return this.hnsw.get(name)?.vectorCounts() ?? { exact: 0, graph: 0 };
  }

  drop(name: string): Promise<boolean> {
    return this.hnsw.drop(name);
  }

  async health(): Promise<StoreHealth> {
    return { ready: true };
  }

  close(): Promise<void> {
    return this.hnsw.close();
  }
}
