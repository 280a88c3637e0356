import { randomUUID } from 'node:crypto';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { VectorStore } from '@langchain/core/vectorstores';
import { contentHash } from '../store/content-hash.js';
import type { Metadata } from '../store/metadata-filter.js';
import type { ChunkHit, StoreCollection, StoreFilter } from '../store/store-contract.js';

/** How a search narrows its hits: a metadata filter, and a floor on the cosine similarity. */
export interface StoreSearch {
  filter?: StoreFilter | undefined;
  minScore?: number | undefined;
}

/** Where a retrieved chunk comes from: its document, its place in it, and how close it is. */
export interface ChunkSource {
  id: string;
  chunk: { index: number; start: number; end: number };
  text: string;
  metadata: Metadata;
  score: number;
}

/** A store's hit as the service reports it. */
export function chunkSource(hit: ChunkHit): ChunkSource {
  const [start, end] = hit.document.spans[hit.chunk] as [number, number];
  return { id: hit.document.id, chunk: { index: hit.chunk, start, end }, text: hit.text, metadata: hit.document.metadata, score: hit.score };
}

/** A retrieved chunk as a LangChain document (page content, document metadata and id) that keeps its source and score. */
export class ChunkDocument extends Document<Metadata> {
  constructor(readonly source: ChunkSource) {
    super({ pageContent: source.text, metadata: source.metadata, id: source.id });
  }
}

/** The whole text of an added document is its one chunk: it was cut before it got here. */
const WHOLE = 'whole';

/**
 * A collection of the service's store (embedded HNSW or pgvector, through the store contract) as
 * a LangChain VectorStore, so that `asRetriever()` is the retriever of the ask chain. Documents
 * added through it are stored as they are, one chunk each, replacing any with the same id; a
 * search takes a StoreSearch as its filter and answers ChunkDocuments.
 */
export class StoreVectorStore extends VectorStore {
  declare FilterType: StoreSearch;

  constructor(
    embeddings: EmbeddingsInterface,
    readonly collection: StoreCollection,
  ) {
    super(embeddings, {});
  }

  _vectorstoreType(): string {
    return 'nim-rag-store';
  }

  async addVectors(vectors: number[][], documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    if (vectors.length !== documents.length) throw new RangeError(`${vectors.length} vectors for ${documents.length} documents`);
    const writes = documents.map((document, index) => ({
      id: options?.ids?.[index] ?? document.id ?? randomUUID(),
      text: document.pageContent,
      metadata: document.metadata as Metadata,
      contentHash: contentHash(document.pageContent, WHOLE),
      spans: [[0, document.pageContent.length]] as Array<[number, number]>,
      vectors: [vectors[index]],
    }));
    const result = await this.collection.upsert(writes);
    if (!result.applied) throw new Error('the store asked for vectors it was given');
    return writes.map((write) => write.id);
  }

  async addDocuments(documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((document) => document.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  /** Deletes documents by id, or every document whose metadata matches a filter. */
  override async delete(params: { ids: string[] } | { filter: StoreFilter }): Promise<void> {
    if ('ids' in params) await this.collection.deleteDocuments(params.ids);
    else await this.collection.deleteWhere(params.filter);
  }

  async similaritySearchVectorWithScore(query: number[], k: number, search?: StoreSearch): Promise<Array<[ChunkDocument, number]>> {
    const hits = await this.collection.searchVector(query, k, { filter: search?.filter, minScore: search?.minScore });
    return hits.map((hit) => [new ChunkDocument(chunkSource(hit)), hit.score]);
  }
}
