import type { Metadata, MetadataFilter, MetadataPredicate } from './metadata-filter.js';

/**
 * What the services need of a vector store, whichever backend holds the vectors: the embedded
 * HNSW store on DATA_DIR, or Postgres with pgvector shared by several replicas. One behaviour
 * suite (test/store/store-contract.test.ts) runs against both.
 */

export const DEFAULT_COLLECTION = 'default';
export const COLLECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A document as the store keeps it: its full text once, and each chunk as a span of that text. */
export interface StoredDocument {
  id: string;
  text: string;
  metadata: Metadata;
  /** Hash of the text and the chunking that produced the spans: equal hash, equal chunks. */
  contentHash: string;
  spans: Array<[start: number, end: number]>;
  createdAt: string;
  updatedAt: string;
}

/** A chunk's vector: float32s as the embeddings client decoded them, or plain numbers (reused, offline, tests). */
export type ChunkVector = Float32Array | number[];

/** A document to store: its chunks are spans of its text, each with a vector or none yet. */
export interface DocumentWrite {
  id: string;
  text: string;
  metadata: Metadata;
  contentHash: string;
  spans: Array<[number, number]>;
  vectors: Array<ChunkVector | undefined>;
}

export type WriteStatus = 'created' | 'updated' | 'unchanged';

export type UpsertResult =
  | { applied: true; outcomes: Array<{ id: string; status: WriteStatus; chunks: number }> }
  /** Documents changed under us and need vectors for chunks no longer held: embed these and retry. */
  | { applied: false; missing: Array<{ write: number; chunk: number }> };

export interface ChunkHit {
  document: StoredDocument;
  chunk: number;
  text: string;
  /** Cosine similarity from searchVector, BM25 from searchKeyword; higher is closer either way. */
  score: number;
}

/** A validated metadata filter in both forms: the filter itself (for SQL) and its predicate (for in-memory checks). */
export interface StoreFilter {
  filter: MetadataFilter;
  matches: MetadataPredicate;
}

export interface SearchOptions {
  filter?: StoreFilter | undefined;
  minScore?: number | undefined;
}

export interface CollectionSummary {
  name: string;
  documents: number;
  chunks: number;
}

/** Where a collection's chunk vectors are: searched by a full scan, or in an HNSW graph. */
export interface VectorTiers {
  exact: number;
  graph: number;
}

export interface StoreHealth {
  ready: boolean;
  /** Why the store cannot serve, when it cannot. */
  detail?: string | undefined;
}

export interface StoreCollection {
  readonly name: string;
  /** True once the collection holds at least one chunk (a search of an empty one needs no query embedding). */
  hasChunks(): Promise<boolean>;
  getDocument(id: string): Promise<StoredDocument | undefined>;
  /** The content hash of each of these documents that exists. */
  contentHashes(ids: string[]): Promise<Map<string, string>>;
  /** Documents ordered by id (code-unit order), starting after `after`. */
  listDocuments(limit: number, after?: string): Promise<{ documents: StoredDocument[]; next: string | undefined }>;
  /** Stored vectors of live chunks with exactly these texts, by text. */
  reusableVectors(texts: string[]): Promise<Map<string, number[]>>;
  /** The k nearest chunks, best first; with a filter, k matches whenever k matching chunks exist. */
  searchVector(vector: number[], k: number, options?: SearchOptions): Promise<ChunkHit[]>;
  /**
   * The k chunks best by BM25 for the query's keyword terms (src/store/keyword/), best first, ties
   * in document id and chunk order; the same query ranks alike on every backend. `minScore` is a
   * floor on the BM25 score; with a filter, k matches whenever k matching chunks hold a term.
   */
  searchKeyword(query: string, k: number, options?: SearchOptions): Promise<ChunkHit[]>;
  /**
   * Stores documents atomically, replacing any with the same id: all of them or none. Identical
   * content and metadata is left alone, a metadata change keeps the vectors, and a chunk without
   * a vector takes one from a live chunk of equal text; if one is still missing, nothing is written.
   */
  upsert(writes: DocumentWrite[]): Promise<UpsertResult>;
  /** Deletes documents by id; returns the ids that existed. */
  deleteDocuments(ids: string[]): Promise<string[]>;
  /** Deletes every document whose metadata matches; returns their ids. */
  deleteWhere(filter: StoreFilter): Promise<string[]>;
}

export interface DocumentStore {
  readonly backend: 'hnsw' | 'pgvector';
  readonly embeddingModel: string;
  /** Undefined until fixed by configuration or by the first vector stored. */
  readonly dimensions: number | undefined;
  collection(name: string): Promise<StoreCollection | undefined>;
  /** The named collection, created if new. */
  getOrCreate(name: string): Promise<StoreCollection>;
  list(): Promise<CollectionSummary[]>;
  vectorTiers(name: string): Promise<VectorTiers>;
  /** Drops a collection as a whole; false if it did not exist. */
  drop(name: string): Promise<boolean>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
