import { idf, roundScore, termScore } from './bm25.js';
import { queryTerms, termFrequencies } from './tokenizer.js';

/** One term's postings: chunk labels and their term frequencies, in growable typed arrays. */
interface Postings {
  labels: Int32Array;
  tfs: Uint16Array;
  size: number;
  /** Chunks holding the term that are still live (postings of removed chunks linger until compaction). */
  df: number;
}

export interface KeywordMatch {
  label: number;
  score: number;
}

const MAX_TF = 0xffff;

/**
 * The embedded store's BM25 inverted index over chunk labels. It is derived state: the collection
 * feeds it every chunk it remembers (from the snapshot, the log replay and each applied write)
 * and every chunk it forgets, so after any crash it is rebuilt from exactly the documents that
 * came back. Removal is lazy (labels are never reused, so a removed label's postings are skipped
 * by their missing length) with exact df and length totals, and the dead postings are compacted
 * away once they make up half of all postings.
 */
export class KeywordIndex {
  private readonly postings = new Map<string, Postings>();
  /** Term count of each live chunk, by label. */
  private readonly lengths = new Map<number, number>();
  private totalLength = 0;
  private storedPostings = 0;
  private livePostings = 0;

  get chunkCount(): number {
    return this.lengths.size;
  }

  add(label: number, text: string): void {
    if (this.lengths.has(label)) return;
    const { frequencies, length } = termFrequencies(text);
    this.lengths.set(label, length);
    this.totalLength += length;
    for (const [term, tf] of frequencies) {
      let list = this.postings.get(term);
      if (!list) {
        list = { labels: new Int32Array(2), tfs: new Uint16Array(2), size: 0, df: 0 };
        this.postings.set(term, list);
      }
      if (list.size === list.labels.length) grow(list);
      list.labels[list.size] = label;
      list.tfs[list.size] = Math.min(tf, MAX_TF);
      list.size += 1;
      list.df += 1;
    }
    this.storedPostings += frequencies.size;
    this.livePostings += frequencies.size;
  }

  /** Forgets a chunk; `text` is the chunk's text, whose terms say which postings lose it. */
  remove(label: number, text: string): void {
    const length = this.lengths.get(label);
    if (length === undefined) return;
    this.lengths.delete(label);
    this.totalLength -= length;
    const { frequencies } = termFrequencies(text);
    for (const term of frequencies.keys()) {
      const list = this.postings.get(term);
      if (list) list.df -= 1;
    }
    this.livePostings -= frequencies.size;
    if (this.storedPostings > 1024 && this.livePostings * 2 < this.storedPostings) this.compact();
  }

  /**
   * Every live chunk holding a query term, with its BM25 score, best first (ties by label, the
   * caller re-orders them by document id and chunk); `visible` leaves chunks out.
   */
  search(query: string, visible?: (label: number) => boolean): KeywordMatch[] {
    const chunks = this.lengths.size;
    if (chunks === 0) return [];
    const averageLength = this.totalLength / chunks;
    const scores = new Map<number, number>();
    for (const term of queryTerms(query)) {
      const list = this.postings.get(term);
      if (!list || list.df <= 0) continue;
      const termIdf = idf(chunks, list.df);
      for (let i = 0; i < list.size; i++) {
        const label = list.labels[i] as number;
        const length = this.lengths.get(label);
        if (length === undefined) continue;
        scores.set(label, (scores.get(label) ?? 0) + termScore(termIdf, list.tfs[i] as number, length, averageLength));
      }
    }
    const matches: KeywordMatch[] = [];
    for (const [label, score] of scores) {
      if (!visible || visible(label)) matches.push({ label, score: roundScore(score) });
    }
    return matches.sort((a, b) => b.score - a.score || a.label - b.label);
  }

  private compact(): void {
    for (const [term, list] of this.postings) {
      let kept = 0;
      for (let i = 0; i < list.size; i++) {
        const label = list.labels[i] as number;
        if (!this.lengths.has(label)) continue;
        list.labels[kept] = label;
        list.tfs[kept] = list.tfs[i] as number;
        kept += 1;
      }
      list.size = kept;
      if (kept === 0) this.postings.delete(term);
    }
    this.storedPostings = this.livePostings;
  }
}

function grow(list: Postings): void {
  const labels = new Int32Array(list.labels.length * 2);
  labels.set(list.labels);
  const tfs = new Uint16Array(list.tfs.length * 2);
  tfs.set(list.tfs);
  list.labels = labels;
  list.tfs = tfs;
}
