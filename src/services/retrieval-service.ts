import type { Ranking, RankOptions } from '@nim-rag/langchain-nvidia';
import type { Metadata } from '../store/metadata-filter.js';
import type { DocumentStore } from '../store/store-contract.js';
import { collectionForRead } from './collection-service.js';
import type { TextEmbedder } from './document-service.js';
import { parseFilter } from './filters.js';

export interface SearchRequest {
  query: string;
  k: number;
  collection: string;
  filter?: unknown;
  /** Hits scoring below this cosine similarity are left out. */
  minScore?: number | undefined;
}

/** A retrieved chunk as callers see it: its document's id and metadata, where in the document it sits, its score. */
export interface Source {
  id: string;
  chunk: { index: number; start: number; end: number };
  text: string;
  metadata: Metadata;
  score: number;
}

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
    const sources = await this.nearest(request, this.reranking ? Math.max(request.k, this.reranking.candidates) : request.k, signal);
    if (!this.reranking || sources.length === 0) return sources;
    const started = performance.now();
    const rankings = await this.reranking.reranker.rank(
      request.query,
      sources.map((source) => source.text),
      { signal },
    );
    timings.rerankMs = performance.now() - started;
    return rankings.slice(0, request.k).map(({ index }) => sources[index] as Source);
  }

  private async nearest(request: SearchRequest, k: number, signal: AbortSignal | undefined): Promise<Source[]> {
    const filter = request.filter === undefined ? undefined : parseFilter(request.filter);
    const collection = await collectionForRead(this.store, request.collection);
    if (!collection || !(await collection.hasChunks())) return [];
    const vector = await this.embedder.embedQuery(request.query, { signal });
    const hits = await collection.searchVector(vector, k, { filter, minScore: request.minScore });
    return hits.map((hit) => {
      const [start, end] = hit.document.spans[hit.chunk] as [number, number];
      return {
        id: hit.document.id,
        chunk: { index: hit.chunk, start, end },
        text: hit.text,
        metadata: hit.document.metadata,
        score: hit.score,
      };
    });
  }
}
