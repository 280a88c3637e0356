import { dot, normalized } from '../store/flat-vectors.js';
import type { TextEmbedder } from './document-service.js';

export interface SimilarityResult {
  model: string;
  /** matrix[q][d]: cosine similarity of query q to document d. */
  matrix: number[][];
}

/** Cross-similarity of queries and documents, as in the example's heat map; nothing is stored. */
export class SimilarityService {
  constructor(private readonly embedder: TextEmbedder) {}

  async matrix(queries: string[], documents: string[], signal?: AbortSignal): Promise<SimilarityResult> {
    const [queryVectors, documentVectors] = await Promise.all([
      this.embedder.embedQueries(queries, { signal }),
      this.embedder.embedDocuments(documents, { signal }),
    ]);
    const rows = queryVectors.map(normalized);
    const columns = documentVectors.map(normalized);
    const round = (value: number) => Math.round(value * 1e6) / 1e6;
    return { model: this.embedder.model, matrix: rows.map((row) => columns.map((column) => round(dot(row, column)))) };
  }
}
