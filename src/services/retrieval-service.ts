import type { Ranking, RankOptions } from '@nim-rag/langchain-nvidia';
import { type ChunkDocument, type ChunkSource, StoreVectorStore } from '../rag/store-vector-store.js';
import type { DocumentStore } from '../store/store-contract.js';
import { inSpan } from '../telemetry/spans.js';
import { collectionForRead } from './collection-service.js';
import type { TextEmbedder } from './document-service.js';
import { parseFilter } from './filters.js';
import { searchFailure } from './write-failures.js';

export interface SearchRequest {
  query: string;
  k: number;
  collection: string;
  filter?: unknown;
  /** Hits scoring below this cosine similarity are left out. */
  minScore?: number | undefined;
}

/** A retrieved chunk as callers see it: its document's id and metadata, where in the document it sits, its score. */
export type Source = ChunkSource;

/** A reranking model (NVIDIARerank) and how many retrieved chunks it reorders. */
export interface Reranking {
  reranker: { rank(query: string, passages: string[], options?: RankOptions): Promise<Ranking[]> };
  candidates: number;
}

/** Where a search spent its time, for an answer's `timings`. */
export interface SearchTimings {
  rerankMs?: number;
}

export class RetrievalService {
  constructor(
    private readonly store: DocumentStore,
    private readonly embedder: TextEmbedder,
    private readonly reranking?: Reranking,
  ) {}

  /**
   * The k chunks closest to the query (embedded as `input_type: query`), best first. With a
   * reranker, the `candidates` closest are reordered by it and the best k kept.
   */
  async search(request: SearchRequest, signal?: AbortSignal, timings: SearchTimings = {}): Promise<Source[]> {
    const k = this.reranking ? Math.max(request.k, this.reranking.candidates) : request.k;
    const sources = await inSpan('rag.retrieve', { 'rag.collection': request.collection, 'rag.k': k }, async (span) => {
      const found = await this.nearest(request, k, signal);
      span.setAttribute('rag.sources', found.length);
      return found;
    });
    const reranking = this.reranking;
    if (!reranking || sources.length === 0) return sources;
    const started = performance.now();
    const rankings = await inSpan('rag.rerank', { 'rag.candidates': sources.length, 'rag.k': request.k }, () =>
      reranking.reranker.rank(
        request.query,
        sources.map((source) => source.text),
        { signal },
      ),
    );
    timings.rerankMs = performance.now() - started;
    return rankings.slice(0, request.k).map(({ index }) => sources[index] as Source);
  }

  /** The collection's retriever, as the LangChain example builds one: the store as a VectorStore, `asRetriever()`. */
  private async nearest(request: SearchRequest, k: number, signal: AbortSignal | undefined): Promise<Source[]> {
    const filter = request.filter === undefined ? undefined : parseFilter(request.filter);
    const collection = await collectionForRead(this.store, request.collection);
    if (!collection || !(await collection.hasChunks())) return [];
    // LangChain's retriever embeds the query without the request's signal: this embedder carries it.
    const embeddings = {
      embedQuery: (text: string) => this.embedder.embedQuery(text, { signal }),
      embedDocuments: (texts: string[]) => this.embedder.embedDocuments(texts, { signal }),
    };
    const retriever = new StoreVectorStore(embeddings, collection).asRetriever({ k, filter: { filter, minScore: request.minScore } });
    const documents = await retriever.invoke(request.query, { signal }).catch((error: unknown) => {
      throw searchFailure(error, this.embedder.model);
    });
    return documents.map((document) => (document as ChunkDocument).source);
  }
}
