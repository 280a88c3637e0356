import type { ChunkHit } from '../store-contract.js';

/**
 * The order of keyword hits on every backend: score, best first, then document id (code-unit
 * order) and chunk index, so that equal BM25 scores (common: same term counts, same lengths)
 * come back in one order whichever store answers.
 */
export function compareKeywordHits(a: ChunkHit, b: ChunkHit): number {
  if (a.score !== b.score) return b.score - a.score;
  if (a.document.id !== b.document.id) return a.document.id < b.document.id ? -1 : 1;
  return a.chunk - b.chunk;
}
