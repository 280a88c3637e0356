import hnswlib from 'hnswlib-node';

const { BruteforceSearch } = hnswlib;
type Scan = InstanceType<typeof BruteforceSearch>;

export interface ScoredLabel {
  label: number;
  /** Cosine similarity, higher is closer. */
  score: number;
}

const INITIAL_CAPACITY = 256;

/**
 * Unit vectors searched exactly: every stored vector is scored against the query. The vectors live in
 * a growable Float32Array (so they can be read back, moved into the HNSW graph and written to a
 * snapshot) and in hnswlib's brute-force scanner, whose SIMD distance loop is about eight times
 * faster than the same loop in JavaScript.
 */
export class FlatVectors {
  private arena: Float32Array;
  private readonly rowOf = new Map<number, number>();
  private labelAt: number[] = [];
  private scan: Scan;

  constructor(readonly dimensions: number) {
    this.arena = new Float32Array(INITIAL_CAPACITY * dimensions);
    this.scan = this.newScan(INITIAL_CAPACITY);
  }

  get size(): number {
    return this.labelAt.length;
  }

  has(label: number): boolean {
    return this.rowOf.has(label);
  }

  labels(): readonly number[] {
    return this.labelAt;
  }

  add(label: number, vector: ArrayLike<number>): void {
    if (vector.length !== this.dimensions) {
      throw new Error(`vector has ${vector.length} dimensions, the store holds ${this.dimensions}-dimensional vectors`);
    }
    if (this.rowOf.has(label)) this.remove(label);
    if (this.size === this.capacity) this.grow();
    const row = this.size;
    const unit = normalized(vector);
    this.arena.set(unit, row * this.dimensions);
    this.rowOf.set(label, row);
    this.labelAt.push(label);
    this.scan.addPoint(unit, label);
  }

  /** Removes a vector; the last row moves into its place, as the scanner does it too. */
  remove(label: number): boolean {
    const row = this.rowOf.get(label);
    if (row === undefined) return false;
    const last = this.size - 1;
    const lastLabel = this.labelAt[last] as number;
    if (row !== last) {
      this.arena.copyWithin(row * this.dimensions, last * this.dimensions, (last + 1) * this.dimensions);
      this.labelAt[row] = lastLabel;
      this.rowOf.set(lastLabel, row);
    }
    this.labelAt.pop();
    this.rowOf.delete(label);
    this.scan.removePoint(label);
    return true;
  }

  /** A copy of the stored vector, scaled to unit length. */
  vector(label: number): Float32Array | undefined {
    const row = this.rowOf.get(label);
    if (row === undefined) return undefined;
    return this.arena.slice(row * this.dimensions, (row + 1) * this.dimensions);
  }

  /**
   * The k best vectors that `visible` accepts, best first. The scanner is asked without a filter
   * (its filtered scan can stop short of k matches) for more and more candidates until k visible
   * ones are among them or every vector has been scored.
   */
  search(query: number[], k: number, visible?: (label: number) => boolean): ScoredLabel[] {
    if (this.size === 0 || k <= 0) return [];
    let fetch = Math.min(this.size, visible ? k * 2 : k);
    for (;;) {
      const found = this.scan.searchKnn(query, fetch);
      const hits: ScoredLabel[] = [];
      found.neighbors.forEach((label, position) => {
        if (!visible || visible(label)) hits.push({ label, score: 1 - (found.distances[position] as number) });
      });
      if (hits.length >= k || fetch === this.size) return hits.slice(0, k);
      fetch = Math.min(this.size, fetch * 4);
    }
  }

  /** Every row as one contiguous block, with the label of each row, for a snapshot. */
  export(): { labels: number[]; vectors: Float32Array } {
    return { labels: [...this.labelAt], vectors: this.arena.slice(0, this.size * this.dimensions) };
  }

  private get capacity(): number {
    return this.arena.length / this.dimensions;
  }

  /** Doubles the room: a new arena and a new scanner refilled from it, so growth is amortised. */
  private grow(): void {
    const capacity = this.capacity * 2;
    const arena = new Float32Array(capacity * this.dimensions);
    arena.set(this.arena.subarray(0, this.size * this.dimensions));
    this.arena = arena;
    this.scan = this.newScan(capacity);
    this.labelAt.forEach((label, row) => {
      this.scan.addPoint(Array.from(arena.subarray(row * this.dimensions, (row + 1) * this.dimensions)), label);
    });
  }

  private newScan(capacity: number): Scan {
    const scan = new BruteforceSearch('cosine', this.dimensions);
    scan.initIndex(capacity);
    return scan;
  }
}

/** The vector scaled to unit length (a zero vector stays zero), as hnswlib's cosine space stores it. */
export function normalized(vector: ArrayLike<number>): number[] {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += (vector[i] as number) ** 2;
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  return Array.from(vector, (value) => value * scale);
}
