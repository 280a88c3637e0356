/**
 * A search's hits as the contract gives them: cosine similarity clamped to [-1, 1] (float32
 * rounding overshoots, a vector against itself can score 1.0000001), then held against min_score,
 * so a hit at the edge is kept or left out alike by both backends. Best first, as the backend found them.
 */
export function finishHits<T extends { score: number }>(hits: T[], minScore: number | undefined): T[] {
  return hits.flatMap((hit) => {
    const score = Math.max(-1, Math.min(1, hit.score));
    return minScore === undefined || score >= minScore ? [{ ...hit, score }] : [];
  });
}
