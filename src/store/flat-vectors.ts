import { DOT_PRODUCTS_WASM } from './dot-products-wasm.js';

export interface ScoredLabel {
  label: number;
  /** Cosine similarity, higher is closer. */
  score: number;
}

/**
 * Rows per page. Each page is a fixed block of WebAssembly memory, so growing means adding a
 * page: no copy of what is stored, and no memory growth to re-map.
 */
const PAGE_ROWS = 2048;
const WASM_PAGE_BYTES = 65_536;
const FLOAT_BYTES = 4;

const dotProducts = new WebAssembly.Module(DOT_PRODUCTS_WASM);

interface DotProducts {
  scores(query: number, rows: number, count: number, stride: number, scores: number): void;
}

/**
 * A fixed number of rows in one WebAssembly memory: the query, then the rows (unit vectors,
 * `stride` floats apart, zero-padded to a multiple of 4 for the SIMD loop), then one score per row.
 */
class Page {
  readonly labels: number[] = [];
  private readonly memory: WebAssembly.Memory;
  private readonly module: DotProducts;
  private readonly rowsAt: number;
  private readonly scoresAt: number;

  constructor(
    readonly dimensions: number,
    private readonly stride: number,
  ) {
    this.rowsAt = stride * FLOAT_BYTES;
    this.scoresAt = this.rowsAt + PAGE_ROWS * stride * FLOAT_BYTES;
    const bytes = this.scoresAt + PAGE_ROWS * FLOAT_BYTES;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES) });
    this.module = new WebAssembly.Instance(dotProducts, { env: { memory: this.memory } }).exports as unknown as DotProducts;
  }

  get full(): boolean {
    return this.labels.length === PAGE_ROWS;
  }

  /** The row's `dimensions` floats (its padding left out). */
  row(row: number): Float32Array {
    return new Float32Array(this.memory.buffer, this.rowsAt + row * this.stride * FLOAT_BYTES, this.dimensions);
  }

  /** Copies `source`'s row `from` into this page's row `to` (padding included). */
  copyRow(to: number, source: Page, from: number): void {
    const rowBytes = this.stride * FLOAT_BYTES;
    const start = source.rowsAt + from * rowBytes;
    new Uint8Array(this.memory.buffer).set(new Uint8Array(source.memory.buffer, start, rowBytes), this.rowsAt + to * rowBytes);
  }

  /** The stored rows one after another: a view of the memory when they carry no padding, else a compact copy. */
  rows(): Float32Array {
    const count = this.labels.length;
    if (this.stride === this.dimensions) return new Float32Array(this.memory.buffer, this.rowsAt, count * this.dimensions);
    const compact = new Float32Array(count * this.dimensions);
    for (let row = 0; row < count; row++) compact.set(this.row(row), row * this.dimensions);
    return compact;
  }

  /** Every row's dot product with the unit query, by row. */
  scores(unitQuery: Float32Array): Float32Array {
    new Float32Array(this.memory.buffer, 0, this.dimensions).set(unitQuery);
    this.module.scores(0, this.rowsAt, this.labels.length, this.stride, this.scoresAt);
    return new Float32Array(this.memory.buffer, this.scoresAt, this.labels.length);
  }
}

/**
 * Unit vectors searched exactly: every stored vector is scored against the query by a 128-bit
 * SIMD WebAssembly loop, as fast here as hnswlib's brute-force scanner, while storing a vector is
 * a copy into memory (hnswlib-node takes vectors as plain arrays only and read each element
 * through N-API: about 50 µs a vector, the largest cost of a bulk ingest). The same memory is
 * what gets moved into the HNSW graph and written to a snapshot.
 */
export class FlatVectors {
  private readonly pages: Page[] = [];
  private readonly where = new Map<number, { page: Page; row: number }>();
  private readonly stride: number;
  /** hnswlib takes vectors as plain arrays only; one array, refilled for each vector, spares the garbage collector. */
  private readonly scratch: number[];

  constructor(readonly dimensions: number) {
    this.stride = Math.ceil(dimensions / 4) * 4;
    this.scratch = new Array<number>(dimensions).fill(0);
  }

  get size(): number {
    return this.where.size;
  }

  /** The most recently stored label still here: removing it moves no other row. */
  lastLabel(): number | undefined {
    return this.pages.at(-1)?.labels.at(-1);
  }

  add(label: number, vector: ArrayLike<number>): void {
    this.checkDimensions(vector);
    this.remove(label);
    let page = this.pages.at(-1);
    if (!page || page.full) {
      page = new Page(this.dimensions, this.stride);
      this.pages.push(page);
    }
    const row = page.labels.length;
    page.labels.push(label);
    normalizeInto(vector, page.row(row));
    this.where.set(label, { page, row });
  }

  private checkDimensions(vector: ArrayLike<number>): void {
    if (vector.length !== this.dimensions) {
      throw new Error(`vector has ${vector.length} dimensions, the store holds ${this.dimensions}-dimensional vectors`);
    }
  }

  /** The stored vector in the shared scratch array, valid until the next call: for handing it straight to hnswlib. */
  scratchVector(label: number): number[] | undefined {
    const place = this.where.get(label);
    if (!place) return undefined;
    const vector = place.page.row(place.row);
    for (let i = 0; i < this.dimensions; i++) this.scratch[i] = vector[i] as number;
    return this.scratch;
  }

  /**
   * Removes a vector; the store's last row moves into its place. Every page but the last stays
   * full, so memory follows what is stored: under churn (ingests and deletes at a steady size)
   * holes left in older pages would otherwise keep a whole 8 MB page alive for a few rows.
   */
  remove(label: number): boolean {
    const place = this.where.get(label);
    if (!place) return false;
    const { page, row } = place;
    const lastPage = this.pages.at(-1) as Page;
    const lastRow = lastPage.labels.length - 1;
    if (page !== lastPage || row !== lastRow) {
      const moved = lastPage.labels[lastRow] as number;
      page.copyRow(row, lastPage, lastRow);
      page.labels[row] = moved;
      this.where.set(moved, { page, row });
    }
    lastPage.labels.pop();
    this.where.delete(label);
    if (lastPage.labels.length === 0) this.pages.pop();
    return true;
  }

  /** Rows the pages have room for: the memory the tier holds, in vectors. */
  get capacity(): number {
    return this.pages.length * PAGE_ROWS;
  }

  /** A copy of the stored vector, scaled to unit length. */
  vector(label: number): Float32Array | undefined {
    const place = this.where.get(label);
    return place?.page.row(place.row).slice();
  }

  /** The k best vectors that `visible` accepts, best first: every vector is scored, so the answer is exact and complete. */
  search(query: ArrayLike<number>, k: number, visible?: (label: number) => boolean): ScoredLabel[] {
    this.checkDimensions(query);
    if (this.size === 0 || k <= 0) return [];
    const unitQuery = new Float32Array(this.dimensions);
    normalizeInto(query, unitQuery);
    const best = new TopK(k);
    for (const page of this.pages) {
      const scores = page.scores(unitQuery);
      for (let row = 0; row < scores.length; row++) {
        const score = scores[row] as number;
        if (!best.admits(score)) continue;
        const label = page.labels[row] as number;
        if (!visible || visible(label)) best.add(label, score);
      }
    }
    return best.sorted();
  }

  /**
   * Every row's label, and the rows page by page in the same order, for a snapshot: views of the
   * pages' memory (no copy of a large tier in one go), valid until the next change.
   */
  export(): { labels: number[]; blocks: Float32Array[] } {
    return { labels: this.pages.flatMap((page) => page.labels), blocks: this.pages.map((page) => page.rows()) };
  }
}

/** The k highest scores seen, kept sorted best first (k is small: a search's k). */
class TopK {
  private readonly hits: ScoredLabel[] = [];

  constructor(private readonly k: number) {}

  admits(score: number): boolean {
    return this.hits.length < this.k || score > (this.hits.at(-1) as ScoredLabel).score;
  }

  add(label: number, score: number): void {
    let at = this.hits.length;
    while (at > 0 && (this.hits[at - 1] as ScoredLabel).score < score) at -= 1;
    this.hits.splice(at, 0, { label, score });
    if (this.hits.length > this.k) this.hits.pop();
  }

  sorted(): ScoredLabel[] {
    return this.hits;
  }
}

function unitScale(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += (vector[i] as number) ** 2;
  return sum > 0 ? 1 / Math.sqrt(sum) : 0;
}

/** Writes the vector scaled to unit length (a zero vector stays zero), as cosine similarity compares them. */
function normalizeInto(vector: ArrayLike<number>, target: Float32Array): void {
  const scale = unitScale(vector);
  for (let i = 0; i < vector.length; i++) target[i] = (vector[i] as number) * scale;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** The vector scaled to unit length (a zero vector stays zero). */
export function normalized(vector: ArrayLike<number>): number[] {
  const scale = unitScale(vector);
  return Array.from(vector, (value) => value * scale);
}
