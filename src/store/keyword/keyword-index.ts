import { idf, roundScore, SCORE_DECIMALS, termScore } from './bm25.js';
import { queryTerms, termFrequencies } from './tokenizer.js';

/** One term's postings: chunk labels and their term frequencies, in growable typed arrays. */
interface Postings {
  labels: Int32Array;
  tfs: Uint16Array;
  size: number;
  /** Chunks holding the term that are still live (postings of removed chunks linger until compaction). */
  df: number;
  /** Whether the labels ascend (appends keep them so; a snapshot's load order may not). */
  ordered: boolean;
  /** The largest tf and the shortest chunk among the postings (removals leave them as they were: still bounds). */
  maxTf: number;
  minLength: number;
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
  /** Term count of each chunk by label, -1 for none (never added, or removed). */
  private lengths = new Int32Array(1024).fill(-1);
  private live = 0;
  private totalLength = 0;
  private storedPostings = 0;
  private livePostings = 0;
  /** Per-query scratch, by label: accumulated scores, and which labels were touched; and the heap of the k best scores. */
  private scores = new Float64Array(1024);
  private touched = new Int32Array(1024);
  private heap = new Float64Array(64);

  get chunkCount(): number {
    return this.live;
  }

  private lengthOf(label: number): number {
    return label < this.lengths.length ? (this.lengths[label] as number) : -1;
  }

  add(label: number, text: string): void {
    if (this.lengthOf(label) >= 0) return;
    const { frequencies, length } = termFrequencies(text);
    if (label >= this.lengths.length) {
      const grown = new Int32Array(Math.max(label + 1, this.lengths.length * 2)).fill(-1);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    this.lengths[label] = length;
    this.live += 1;
    this.totalLength += length;
    for (const [term, tf] of frequencies) {
      let list = this.postings.get(term);
      if (!list) {
        list = { labels: new Int32Array(2), tfs: new Uint16Array(2), size: 0, df: 0, ordered: true, maxTf: 0, minLength: length };
        this.postings.set(term, list);
      }
      if (list.size === list.labels.length) grow(list);
      if (list.size > 0 && (list.labels[list.size - 1] as number) > label) list.ordered = false;
      const kept = Math.min(tf, MAX_TF);
      list.labels[list.size] = label;
      list.tfs[list.size] = kept;
      list.size += 1;
      list.df += 1;
      list.maxTf = Math.max(list.maxTf, kept);
      list.minLength = Math.min(list.minLength, length);
    }
    this.storedPostings += frequencies.size;
    this.livePostings += frequencies.size;
  }

  /** Forgets a chunk; `text` is the chunk's text, whose terms say which postings lose it. */
  remove(label: number, text: string): void {
    const length = this.lengthOf(label);
    if (length < 0) return;
    this.lengths[label] = -1;
    this.live -= 1;
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
   * The live chunks holding a query term that `visible` lets through, with their BM25 scores,
   * best first: the k best and any that tie with the k-th (the caller orders ties by document).
   *
   * Exact, with MaxScore pruning (Turtle and Flood 1995): terms are taken rarest first; once the
   * terms left could not lift a chunk that none of the earlier terms matched past the k-th best
   * score so far (each term's bound is its score at its largest tf in its shortest chunk), their
   * postings are only looked up for the chunks already found, not scanned, so a query's common
   * words cost little on a large index. `visible` is asked once per chunk found, and a chunk it
   * hides is marked so that later terms skip it: the k-th best is then among visible chunks
   * only, so pruning works under filters too.
   */
  search(query: string, k: number, visible?: (label: number) => boolean): KeywordMatch[] {
    if (this.live === 0 || k <= 0) return [];
    const averageLength = this.totalLength / this.live;
    if (this.scores.length < this.lengths.length) {
      this.scores = new Float64Array(this.lengths.length);
      this.touched = new Int32Array(this.lengths.length);
    }
    const { scores, touched, lengths } = this;
    const terms = queryTerms(query)
      .map((term) => this.postings.get(term))
      .filter((list): list is Postings => list !== undefined && list.df > 0)
      .map((list) => ({ list, idf: idf(this.live, list.df) }))
      .sort((a, b) => b.idf - a.idf);
    // What the terms from i on can add to a chunk at most: BM25 grows with tf and falls with length.
    const bounds = new Float64Array(terms.length + 1);
    for (let i = terms.length - 1; i >= 0; i--) {
      const { list, idf: termIdf } = terms[i] as { list: Postings; idf: number };
      bounds[i] = (bounds[i + 1] as number) + termScore(termIdf, list.maxTf, list.minLength, averageLength);
    }
    // Touched chunks: the visible ones from the front of `touched`, the hidden ones (score -Infinity) from its back.
    let count = 0;
    let hidden = touched.length;
    for (let t = 0; t < terms.length; t++) {
      const { list, idf: termIdf } = terms[t] as { list: Postings; idf: number };
      // No chunk has more than the bounds of the terms taken so far: when the rest could add as much, pruning cannot start yet.
      const left = (bounds[t] as number) + PRUNING_MARGIN;
      if (count >= k && left < (bounds[0] as number) - (bounds[t] as number) && this.atLeastAbove(count, k, left)) {
        this.addToFound(terms.slice(t), touched.subarray(0, count), averageLength);
        break;
      }
      for (let i = 0; i < list.size; i++) {
        const label = list.labels[i] as number;
        const length = lengths[label] as number;
        if (length < 0) continue;
        if (scores[label] === 0) {
          if (visible && !visible(label)) {
            scores[label] = -Infinity;
            touched[--hidden] = label;
            continue;
          }
          touched[count++] = label;
        }
        scores[label] = (scores[label] as number) + termScore(termIdf, list.tfs[i] as number, length, averageLength);
      }
    }
    for (let i = hidden; i < touched.length; i++) scores[touched[i] as number] = 0;
    // The k-th best score found on the raw sums, then match objects only for the chunks that reach it once rounded. Rounding
    // never reorders, and moves a score by half a unit of its last decimal at most: a raw sum a unit below the k-th cannot tie it.
    const kth = count > k ? this.kthBest(count, k) : 0;
    const threshold = roundScore(kth);
    const floor = kth - ROUNDING_UNIT;
    const matches: KeywordMatch[] = [];
    for (let i = 0; i < count; i++) {
      const label = touched[i] as number;
      const raw = scores[label] as number;
      scores[label] = 0;
      if (raw < floor) continue;
      const score = roundScore(raw);
      if (score >= threshold) matches.push({ label, score });
    }
    return matches.sort(byScore);
  }

  /**
   * Whether k of the first `count` touched chunks score above `floor` (so the k-th best does): one
   * pass that stops at the k-th, cheaper than finding the k-th best itself at every term.
   */
  private atLeastAbove(count: number, k: number, floor: number): boolean {
    const { scores, touched } = this;
    let above = 0;
    for (let i = 0; i < count; i++) {
      if ((scores[touched[i] as number] as number) > floor && ++above >= k) return true;
    }
    return false;
  }

  /**
   * The k-th best score among the first `count` touched chunks (k ≤ count): the smallest of a
   * min-heap of the k best so far, in the reused `heap` scratch. Most chunks score below the heap's
   * least and cost one comparison.
   */
  private kthBest(count: number, k: number): number {
    if (this.heap.length < k) this.heap = new Float64Array(k);
    const { scores, touched, heap } = this;
    for (let i = 0; i < k; i++) heap[i] = scores[touched[i] as number] as number;
    for (let i = (k >>> 1) - 1; i >= 0; i--) siftDown(heap, k, i);
    for (let i = k; i < count; i++) {
      const score = scores[touched[i] as number] as number;
      if (score <= (heap[0] as number)) continue;
      heap[0] = score;
      siftDown(heap, k, 0);
    }
    return heap[0] as number;
  }

  /**
   * Adds these terms' scores to the chunks found so far: a list much longer than the chunks found
   * is galloped through (label-ordered) for each of them; a shorter one is read straight through,
   * which costs less than searching it for each chunk.
   */
  private addToFound(terms: Array<{ list: Postings; idf: number }>, found: Int32Array, averageLength: number): void {
    const { scores, lengths } = this;
    let sorted = false;
    for (const { list, idf: termIdf } of terms) {
      if (list.size < found.length * GALLOP_RATIO) {
        for (let i = 0; i < list.size; i++) {
          const label = list.labels[i] as number;
          // Found visible chunks alone score above 0 (unfound ones 0, hidden ones -Infinity).
          if ((scores[label] as number) > 0) scores[label] = (scores[label] as number) + termScore(termIdf, list.tfs[i] as number, lengths[label] as number, averageLength);
        }
        continue;
      }
      if (!sorted) found.sort();
      sorted = true;
      sortPostings(list);
      let at = 0;
      for (const label of found) {
        let step = 1;
        let high = at;
        while (high < list.size && (list.labels[high] as number) < label) {
          at = high + 1;
          high += step;
          step *= 2;
        }
        high = Math.min(high, list.size);
        while (at < high) {
          const middle = (at + high) >>> 1;
          if ((list.labels[middle] as number) < label) at = middle + 1;
          else high = middle;
        }
        if (at >= list.size) break;
        if (list.labels[at] === label) scores[label] = (scores[label] as number) + termScore(termIdf, list.tfs[at] as number, lengths[label] as number, averageLength);
      }
    }
  }

  private compact(): void {
    for (const [term, list] of this.postings) {
      let kept = 0;
      list.maxTf = 0;
      list.minLength = Infinity;
      for (let i = 0; i < list.size; i++) {
        const label = list.labels[i] as number;
        const length = this.lengthOf(label);
        if (length < 0) continue;
        list.labels[kept] = label;
        list.tfs[kept] = list.tfs[i] as number;
        list.maxTf = Math.max(list.maxTf, list.tfs[i] as number);
        list.minLength = Math.min(list.minLength, length);
        kept += 1;
      }
      list.size = kept;
      if (kept === 0) this.postings.delete(term);
    }
    this.storedPostings = this.livePostings;
  }
}

/** Postings per chunk found above which galloping through a list beats reading all of it. */
const GALLOP_RATIO = 8;

/** Leaves rounding (scores are compared at six decimals) out of the pruning's strict inequality. */
const PRUNING_MARGIN = 1e-5;

/** One unit of a rounded score's last decimal (see SCORE_DECIMALS). */
const ROUNDING_UNIT = 10 ** -SCORE_DECIMALS;

/** Orders a postings list by label, once: appends keep it ordered, a snapshot's load order may not. */
function sortPostings(list: Postings): void {
  if (list.ordered) return;
  list.ordered = true;
  const order = Array.from({ length: list.size }, (_, i) => i).sort((a, b) => (list.labels[a] as number) - (list.labels[b] as number));
  const labels = Int32Array.from(order, (i) => list.labels[i] as number);
  const tfs = Uint16Array.from(order, (i) => list.tfs[i] as number);
  list.labels.set(labels);
  list.tfs.set(tfs);
}

const byScore = (a: KeywordMatch, b: KeywordMatch) => b.score - a.score || a.label - b.label;

/** Restores the min-heap order of the first `size` values below `at`. */
function siftDown(heap: Float64Array, size: number, at: number): void {
  const value = heap[at] as number;
  let parent = at;
  for (let child = 2 * parent + 1; child < size; child = 2 * parent + 1) {
    if (child + 1 < size && (heap[child + 1] as number) < (heap[child] as number)) child += 1;
    if ((heap[child] as number) >= value) break;
    heap[parent] = heap[child] as number;
    parent = child;
  }
  heap[parent] = value;
}

function grow(list: Postings): void {
  const labels = new Int32Array(list.labels.length * 2);
  labels.set(list.labels);
  const tfs = new Uint16Array(list.tfs.length * 2);
  tfs.set(list.tfs);
  list.labels = labels;
  list.tfs = tfs;
}
