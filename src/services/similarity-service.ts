import type { TextEmbedder } from './document-service.js';

export interface SimilarityResult {
  model: string;
  /** matrix[q][d]: cosine similarity of query q to document d. */
  matrix: number[][];
}

function unit(vector: number[]): number[] {
  const norm = Math.hypot(...vector);
  return norm > 0 ? vector.map((value) => value / norm) : vector;
}

function dot(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** Cross-similarity of queries and documents, as in the example's heat map; nothing is stored. */
export class SimilarityService {
  constructor(private readonly embedder: TextEmbedder) {}

  async matrix(queries: string[], documents: string[], signal?: AbortSignal): Promise<SimilarityResult> {
    const [queryVectors, documentVectors] = await Promise.all([
      this.embedder.embedQueries(queries, { signal }),
      this.embedder.embedDocuments(documents, { signal }),
    ]);
    const rows = queryVectors.map(unit);
    const columns = documentVectors.map(unit);
    const round = (value: number) => Math.round(value * 1e6) / 1e6;
    return { model: this.embedder.model, matrix: rows.map((row) => columns.map((column) => round(dot(row, column)))) };
  }
}
