import { setImmediate } from 'node:timers/promises';
import type { Ranking, RankOptions } from '@nim-rag/langchain-nvidia';
import { badRequest } from '../errors.js';
import { type ChunkDocument, type ChunkSource, chunkSource, StoreVectorStore } from '../rag/store-vector-store.js';
import type { DocumentStore, StoreCollection, StoreFilter } from '../store/store-contract.js';
import { inSpan } from '../telemetry/spans.js';
import { collectionForRead } from './collection-service.js';
import type { TextEmbedder } from './document-service.js';
import { parseFilter } from './filters.js';
import { fuseRankings, type ListWeights, type RankedSource, rankedList, type RetrievalMode } from './rank-fusion.js';

export type { RetrievalMode };

/** How a request retrieves; what it leaves out comes from the service's RetrievalSettings. */
export interface RetrievalOptions {
  mode?: RetrievalMode | undefined;
  rrfK?: number | undefined;
  weights?: Partial<ListWeights> | undefined;
}

/** The service's retrieval defaults (RETRIEVAL_MODE, RRF_K, RETRIEVAL_WEIGHT_*) and how deep each list of a hybrid search goes. */
export interface RetrievalSettings {
  mode: RetrievalMode;
  rrfK: number;
  weights: ListWeights;
  /** Hits taken from each list before fusing them (at least k). */
  candidates: number;
}
import { searchFailure } from './write-failures.js';

export interface SearchRequest {
  query: string;
  k: number;
  collection: string;
  filter?: unknown;
  /** Hits scoring below this (the mode's score: cosine, BM25 or fused) are left out. */
  minScore?: number | undefined;
  retrieval?: RetrievalOptions | undefined;
}

/** A retrieved chunk as callers see it: its document's id and metadata, where in the document it sits, its score, which lists found it. */
export type Source = RankedSource;

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
    private readonly reranking: Reranking | undefined,
    private readonly settings: RetrievalSettings,
  ) {}

  /**
   * The k best chunks for the query by the request's retrieval mode, best first. With a
   * reranker, the `candidates` best (fused, in hybrid mode) are reordered by it and the best k kept.
   */
  async search(request: SearchRequest, signal?: AbortSignal, timings: SearchTimings = {}): Promise<Source[]> {
    const depth = this.reranking ? Math.max(request.k, this.reranking.candidates) : request.k;
    const sources = await inSpan('rag.retrieve', { 'rag.collection': request.collection, 'rag.k': depth }, async (span) => {
      const found = await this.retrieve(request, depth, signal);
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

  private async retrieve(request: SearchRequest, depth: number, signal: AbortSignal | undefined): Promise<Source[]> {
    const { mode, rrfK, weights } = this.resolve(request.retrieval);
    const filter = request.filter === undefined ? undefined : parseFilter(request.filter);
    const collection = await collectionForRead(this.store, request.collection);
    if (!collection || !(await collection.hasChunks())) return [];
    const search = { collection, query: request.query, filter, signal };
    if (mode === 'vector') return rankedList('vector', await this.nearest({ ...search, k: depth, minScore: request.minScore }));
    if (mode === 'keyword') return rankedList('keyword', await this.keywords({ ...search, k: depth, minScore: request.minScore }));
    const listDepth = Math.max(depth, this.settings.candidates);
    // The query goes to the embedder first, so that the keyword side (CPU work on this thread) runs while the embedding is on its way;
    // one turn of the event loop lets the HTTP client write the request out before that work holds the thread.
    const queryVector = this.embedder.embedQuery(request.query, { signal });
    queryVector.catch(() => undefined);
    await setImmediate();
    const keyword = await this.keywords({ ...search, k: listDepth });
    const vector = await this.nearest({ ...search, k: listDepth }, queryVector);
    return fuseRankings(vector, keyword, rrfK, weights)
      .filter((source) => request.minScore === undefined || source.score >= request.minScore)
      .slice(0, depth);
  }

  private resolve(options: RetrievalOptions = {}): Omit<RetrievalSettings, 'candidates'> {
    const weights = { ...this.settings.weights, ...options.weights };
    const mode = options.mode ?? this.settings.mode;
    if (mode === 'hybrid' && weights.vector + weights.keyword <= 0) {
      throw badRequest('retrieval.weights: at least one of vector and keyword must be above 0 in hybrid mode');
    }
    return { mode, rrfK: options.rrfK ?? this.settings.rrfK, weights };
  }

  /** The collection's retriever, as the LangChain example builds one: the store as a VectorStore, `asRetriever()`; `queryVector`, when given, is the query's embedding already asked for. */
  private async nearest(search: ListSearch, queryVector?: Promise<number[]>): Promise<ChunkSource[]> {
    const { signal } = search;
    // LangChain's retriever embeds the query without the request's signal: this embedder carries it (or hands over the vector already asked for).
    const embeddings = {
      embedQuery: (text: string) => queryVector ?? this.embedder.embedQuery(text, { signal }),
      embedDocuments: (texts: string[]) => this.embedder.embedDocuments(texts, { signal }),
    };
    const retriever = new StoreVectorStore(embeddings, search.collection).asRetriever({ k: search.k, filter: { filter: search.filter, minScore: search.minScore } });
    const documents = await retriever.invoke(search.query, { signal }).catch((error: unknown) => {
      throw searchFailure(error, this.embedder.model);
    });
    return documents.map((document) => (document as ChunkDocument).source);
  }

  /** BM25 over the collection's keyword index; no embedding call. */
  private async keywords(search: ListSearch): Promise<ChunkSource[]> {
    const hits = await search.collection.searchKeyword(search.query, search.k, { filter: search.filter, minScore: search.minScore });
    return hits.map(chunkSource);
  }
}

interface ListSearch {
  collection: StoreCollection;
  query: string;
  k: number;
  filter: StoreFilter | undefined;
  minScore?: number | undefined;
  signal: AbortSignal | undefined;
}
