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

export class RetrievalService {
  constructor(
    private readonly store: DocumentStore,
    private readonly embedder: TextEmbedder,
  ) {}

  /** The k chunks closest to the query (embedded as `input_type: query`), best first. */
  async search(request: SearchRequest, signal?: AbortSignal): Promise<Source[]> {
    const filter = request.filter === undefined ? undefined : parseFilter(request.filter);
    const collection = await collectionForRead(this.store, request.collection);
    if (!collection || !(await collection.hasChunks())) return [];
    const vector = await this.embedder.embedQuery(request.query, { signal });
    const hits = await collection.searchVector(vector, request.k, { filter, minScore: request.minScore });
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
