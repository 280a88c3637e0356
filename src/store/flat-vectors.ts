import hnswlib from 'hnswlib-node';

const { BruteforceSearch } = hnswlib;
type Scan = InstanceType<typeof BruteforceSearch>;

export interface ScoredLabel {
  label: number;
  /** Cosine similarity, higher is closer. */
  score: number;
}

/**
 * Rows per page. hnswlib's scanner cannot grow, so the vectors live in fixed pages and growing
 * means adding a page: no copy of what is stored (a doubling that re-adds every row stalled the
 * event loop for tens of milliseconds a few thousand rows in).
 */
const PAGE_ROWS = 2048;

/** A fixed number of rows: the vectors in a Float32Array, to read them back, and in hnswlib's scanner, to search them. */
class Page {
  readonly arena: Float32Array;
  readonly scan: Scan;
  readonly labels: number[] = [];

  constructor(readonly dimensions: number) {
    this.arena = new Float32Array(PAGE_ROWS * dimensions);
    this.scan = new BruteforceSearch('cosine', dimensions);
    this.scan.initIndex(PAGE_ROWS);
  }

  get full(): boolean {
    return this.labels.length === PAGE_ROWS;
  }

  row(row: number): Float32Array {
    return this.arena.subarray(row * this.dimensions, (row + 1) * this.dimensions);
  }
}

/**
 * Unit vectors searched exactly: every stored vector is scored against the query, by hnswlib's
 * brute-force scanner, whose SIMD distance loop is about eight times faster than the same loop in
 * JavaScript. A copy of each vector stays readable, so it can be moved into the HNSW graph and
 * written to a snapshot.
 */
export class FlatVectors {
  private readonly pages: Page[] = [];
  private readonly where = new Map<number, { page: Page; row: number }>();
  /**
   * hnswlib-node takes vectors as plain arrays only; one array, refilled for each vector, spares
   * the garbage collector an 8 KB array per chunk during a large ingest.
   */
  private readonly scratch: number[];

  constructor(readonly dimensions: number) {
    this.scratch = new Array<number>(dimensions).fill(0);
  }

  get size(): number {
    return this.where.size;
  }

  has(label: number): boolean {
    return this.where.has(label);
  }

  /** The most recently stored label still here: removing it moves no other row. */
  lastLabel(): number | undefined {
    return this.pages.at(-1)?.labels.at(-1);
  }

  add(label: number, vector: ArrayLike<number>): void {
    if (vector.length !== this.dimensions) {
      throw new Error(`vector has ${vector.length} dimensions, the store holds ${this.dimensions}-dimensional vectors`);
    }
    this.remove(label);
    let page = this.pages.at(-1);
    if (!page || page.full) {
      page = new Page(this.dimensions);
      this.pages.push(page);
    }
    const row = page.labels.length;
    const stored = page.row(row);
    normalizeInto(vector, stored);
    page.labels.push(label);
    page.scan.addPoint(this.asArray(stored), label);
    this.where.set(label, { page, row });
  }

  /** The stored vector in the shared scratch array, valid until the next call: for handing it straight to hnswlib. */
  scratchVector(label: number): number[] | undefined {
    const place = this.where.get(label);
    return place && this.asArray(place.page.row(place.row));
  }

  private asArray(vector: Float32Array): number[] {
    for (let i = 0; i < this.dimensions; i++) this.scratch[i] = vector[i] as number;
    return this.scratch;
  }

  /** Removes a vector; the last row of its page moves into its place, as the scanner does it too. */
  remove(label: number): boolean {
    const place = this.where.get(label);
    if (!place) return false;
    const { page, row } = place;
    const last = page.labels.length - 1;
    if (row !== last) {
      const moved = page.labels[last] as number;
      page.arena.copyWithin(row * this.dimensions, last * this.dimensions, (last + 1) * this.dimensions);
      page.labels[row] = moved;
      this.where.set(moved, { page, row });
    }
    page.labels.pop();
    page.scan.removePoint(label);
    this.where.delete(label);
    if (page.labels.length === 0) this.pages.splice(this.pages.indexOf(page), 1);
    return true;
  }

  /** A copy of the stored vector, scaled to unit length. */
  vector(label: number): Float32Array | undefined {
    const place = this.where.get(label);
    return place?.page.row(place.row).slice();
  }

  /**
   * The k best vectors that `visible` accepts, best first. Each page's scanner is asked without a
   * filter (its filtered scan can stop short of k matches) for more and more candidates until k
   * visible ones are among them or every vector has been scored.
   */
  search(query: number[], k: number, visible?: (label: number) => boolean): ScoredLabel[] {
    if (this.size === 0 || k <= 0) return [];
    for (let fetch = visible ? k * 2 : k; ; fetch *= 4) {
      const hits: ScoredLabel[] = [];
      let complete = true;
      for (const page of this.pages) {
        const wanted = Math.min(fetch, page.labels.length);
        if (wanted < page.labels.length) complete = false;
        const found = page.scan.searchKnn(query, wanted);
        found.neighbors.forEach((label, position) => {
          if (!visible || visible(label)) hits.push({ label, score: 1 - (found.distances[position] as number) });
        });
      }
      hits.sort((a, b) => b.score - a.score);
      if (hits.length >= k || complete) return hits.slice(0, k);
    }
  }

  /** Every row as one contiguous block, with the label of each row, for a snapshot. */
  export(): { labels: number[]; vectors: Float32Array } {
    const labels = this.pages.flatMap((page) => page.labels);
    const vectors = new Float32Array(labels.length * this.dimensions);
    let offset = 0;
    for (const page of this.pages) {
      vectors.set(page.arena.subarray(0, page.labels.length * this.dimensions), offset);
      offset += page.labels.length * this.dimensions;
    }
    return { labels, vectors };
  }
}

function unitScale(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += (vector[i] as number) ** 2;
  return sum > 0 ? 1 / Math.sqrt(sum) : 0;
}

/** Writes the vector scaled to unit length (a zero vector stays zero), as hnswlib's cosine space stores it. */
function normalizeInto(vector: ArrayLike<number>, target: Float32Array): void {
  const scale = unitScale(vector);
  for (let i = 0; i < vector.length; i++) target[i] = (vector[i] as number) * scale;
}

/** The vector scaled to unit length (a zero vector stays zero). */
export function normalized(vector: ArrayLike<number>): number[] {
  const scale = unitScale(vector);
  return Array.from(vector, (value) => value * scale);
}
