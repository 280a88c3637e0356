import type { ChunkSource } from '../rag/store-vector-store.js';

export type RetrievalList = 'vector' | 'keyword';
export type RetrievalMode = RetrievalList | 'hybrid';

export interface ListWeights {
  vector: number;
  keyword: number;
}

/** A retrieved chunk with where it was found: the lists, its rank (1-based) and its own score in each. */
export interface RankedSource extends ChunkSource {
  matched: RetrievalList[];
  ranks: Partial<Record<RetrievalList, number>>;
  scores: Partial<Record<RetrievalList, number>>;
}

const keyOf = (source: ChunkSource) => `${source.chunk.index}\u0000${source.id}`;

/** One list's hits as RankedSources, their score that list's own. */
export function rankedList(list: RetrievalList, sources: ChunkSource[]): RankedSource[] {
  return sources.map((source, position) => ({ ...source, matched: [list], ranks: { [list]: position + 1 }, scores: { [list]: source.score } }));
}

/**
 * Weighted reciprocal rank fusion (Cormack et al. 2009): a chunk scores Σ w_list / (rrfK + rank)
 * over the lists that found it, divided by Σ w / (rrfK + 1), the score of a chunk first in every
 * list, so fused scores run from 0 to 1. Ties go by document id, then chunk index, so the same
 * lists always fuse to the same order.
 */
export function fuseRankings(vector: ChunkSource[], keyword: ChunkSource[], rrfK: number, weights: ListWeights): RankedSource[] {
  const best = (weights.vector + weights.keyword) / (rrfK + 1);
  const fused = new Map<string, { source: RankedSource; sum: number }>();
  const add = (list: RetrievalList, sources: ChunkSource[]) => {
    const weight = weights[list];
    for (let position = 0; position < sources.length; position++) {
      const source = sources[position] as ChunkSource;
      const rank = position + 1;
      const key = keyOf(source);
      let entry = fused.get(key);
      if (!entry) {
        const { id, chunk, text, metadata } = source;
        entry = { source: { id, chunk, text, metadata, score: 0, matched: [], ranks: {}, scores: {} }, sum: 0 };
        fused.set(key, entry);
      }
      entry.source.matched.push(list);
      entry.source.ranks[list] = rank;
      entry.source.scores[list] = source.score;
      entry.sum += weight / (rrfK + rank);
    }
  };
  add('vector', vector);
  add('keyword', keyword);
  const sources: RankedSource[] = [];
  for (const { source, sum } of fused.values()) {
    source.score = best > 0 ? sum / best : 0;
    sources.push(source);
  }
  return sources.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : a.chunk.index - b.chunk.index));
}
