/**
 * Okapi BM25 as both stores compute it (the embedded index in TypeScript, pgvector in SQL: see
 * pgvector-keywords.ts), with Lucene's defaults and its IDF, which never goes negative:
 *   idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))
 *   score(c) = Σ over distinct query terms t in c of idf(t) · tf·(k1+1) / (tf + k1·(1 - b + b·len/avglen))
 * N is the collection's chunk count, df the chunks holding t, len the chunk's term count.
 */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Scores are rounded to this many decimals, so that both stores (whose float sums may differ in the last bit) order ties alike. */
export const SCORE_DECIMALS = 6;

export function idf(chunks: number, df: number): number {
  return Math.log(1 + (chunks - df + 0.5) / (df + 0.5));
}

export function termScore(termIdf: number, tf: number, length: number, averageLength: number): number {
  const norm = averageLength > 0 ? length / averageLength : 0;
  return (termIdf * tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * norm));
}

const SCALE = 10 ** SCORE_DECIMALS;

export function roundScore(score: number): number {
  return Math.round(score * SCALE) / SCALE;
}
