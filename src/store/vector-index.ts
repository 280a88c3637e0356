import { createWriteStream } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import hnswlib from 'hnswlib-node';
import { dot, FlatVectors, normalized, type ScoredLabel } from './flat-vectors.js';

const { HierarchicalNSW } = hnswlib;
type Graph = InstanceType<typeof HierarchicalNSW>;

export interface HnswParameters {
  m: number;
  efConstruction: number;
  efSearch: number;
  /**
   * Collections up to this many chunks are searched exactly and never put in the graph; above it,
   * new chunks wait in the exact tier until the background indexer moves them into the graph.
   */
  exactSearchMaxChunks: number;
  /** Most chunks that may wait for graph indexing before writers are held back. */
  maxIndexBacklog: number;
}

const GRAPH_FILE = 'index.hnsw';
const FLAT_FILE = 'flat.bin';

export type { ScoredLabel };

/**
 * A collection's vectors by label, in two tiers: an exact tier that takes new vectors at once
 * (a copy into memory) and answers exactly, and an HNSW graph (hnswlib-node, cosine) for
 * collections too large to scan, filled from the exact tier by `indexSome`. A search asks both
 * and merges. Adding a vector never waits for graph insertion (2 to 4 ms a vector at 100,000);
 * the owner decides how large a backlog it lets writers build.
 *
 * Not safe against itself: the owner serialises mutations, and keeps them away from `write`.
 */
export class VectorIndex {
  private readonly flat: FlatVectors;
  private graph: Graph | undefined;
  /** Deleted graph slots, which the next insertions reuse before the graph grows. */
  private graphDeleted = 0;

  private constructor(
    readonly dimensions: number,
    private readonly parameters: HnswParameters,
  ) {
    this.flat = new FlatVectors(dimensions);
  }

  static create(dimensions: number, parameters: HnswParameters): VectorIndex {
    return new VectorIndex(dimensions, parameters);
  }

  /** Loads what `write` wrote; `live` is how many labels in it are not deleted. */
  static async read(dir: string, dimensions: number, parameters: HnswParameters, live: number): Promise<VectorIndex> {
    const index = new VectorIndex(dimensions, parameters);
    const flat = await readFile(join(dir, FLAT_FILE)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (flat) index.readFlat(flat);
    const graphFile = join(dir, GRAPH_FILE);
    const hasGraph = await access(graphFile).then(
      () => true,
      () => false,
    );
    if (hasGraph) {
      const graph = new HierarchicalNSW('cosine', dimensions);
      await graph.readIndex(graphFile, true);
      index.graph = graph;
      index.graphDeleted = Math.max(0, graph.getCurrentCount() - (live - index.flat.size));
    }
    return index;
  }

  /** Vectors waiting to be moved into the graph (or kept out of it: the collection is small). */
  get exactCount(): number {
    return this.flat.size;
  }

  get graphCount(): number {
    return (this.graph?.getCurrentCount() ?? 0) - this.graphDeleted;
  }

  add(label: number, vector: ArrayLike<number>): void {
    this.flat.add(label, vector);
  }

  remove(label: number): void {
    if (this.flat.remove(label)) return;
    if (!this.graph) return;
    this.graph.markDelete(label);
    this.graphDeleted += 1;
  }

  /** The stored vector, at unit length. */
  vector(label: number): number[] | undefined {
    const exact = this.flat.vector(label);
    if (exact) return Array.from(exact);
    if (!this.graph) return undefined;
    try {
      return this.graph.getPoint(label);
    } catch {
      return undefined;
    }
  }

  /** The k best labels that `visible` accepts, from both tiers, best first. */
  search(query: number[], k: number, visible?: (label: number) => boolean): ScoredLabel[] {
    const hits = this.flat.search(query, k, visible);
    const graph = this.graph;
    if (graph && this.graphCount > 0) {
      graph.setEf(Math.max(this.parameters.efSearch, k));
      const found = graph.searchKnn(query, Math.min(k, this.graphCount), visible);
      found.neighbors.forEach((label, position) => hits.push({ label, score: 1 - (found.distances[position] as number) }));
    }
    return hits.sort((a, b) => b.score - a.score).slice(0, k);
  }

  /** Cosine similarity of the query to each label's vector, best first. */
  score(query: number[], labels: number[]): ScoredLabel[] {
    const unit = normalized(query);
    const scored: ScoredLabel[] = [];
    for (const label of labels) {
      const vector = this.vector(label);
      if (vector) scored.push({ label, score: dot(unit, vector) });
    }
    return scored.sort((a, b) => b.score - a.score);
  }

  /** True when the exact tier holds vectors that belong in the graph. */
  needsIndexing(live: number): boolean {
    return this.flat.size > 0 && live > this.parameters.exactSearchMaxChunks;
  }

  /**
   * Moves vectors from the exact tier into the graph until `budgetMs` has passed; returns how many
   * moved. Each vector stays searchable throughout: it leaves the exact tier once in the graph.
   * The caller makes sure no write is half-applied meanwhile (every exact vector is committed).
   */
  indexSome(budgetMs: number): number {
    const started = performance.now();
    let moved = 0;
    for (let label = this.flat.lastLabel(); label !== undefined && performance.now() - started < budgetMs; label = this.flat.lastLabel()) {
      const graph = this.roomInGraph();
      graph.addPoint(this.flat.scratchVector(label) as number[], label, true);
      if (this.graphDeleted > 0) this.graphDeleted -= 1;
      this.flat.remove(label);
      moved += 1;
    }
    return moved;
  }

  /**
   * Writes both tiers into a snapshot directory. The graph is written in the background thread
   * pool; the caller keeps mutations away until the returned promise settles.
   */
  async write(dir: string): Promise<void> {
    const { labels, blocks } = this.flat.export();
    const header = Buffer.alloc(8);
    header.writeUInt32LE(labels.length, 0);
    header.writeUInt32LE(this.dimensions, 4);
    const labelBytes = Buffer.from(Uint32Array.from(labels).buffer);
    const vectorBytes = blocks.map((block) => new Uint8Array(block.buffer, block.byteOffset, block.byteLength));
    await pipeline(Readable.from([header, labelBytes, ...vectorBytes]), createWriteStream(join(dir, FLAT_FILE)));
    if (this.graph) await this.graph.writeIndex(join(dir, GRAPH_FILE));
  }

  /** The files `write` creates, for making them durable. */
  files(): string[] {
    return this.graph ? [FLAT_FILE, GRAPH_FILE] : [FLAT_FILE];
  }

  private readFlat(bytes: Buffer): void {
    const count = bytes.readUInt32LE(0);
    const dimensions = bytes.readUInt32LE(4);
    if (dimensions !== this.dimensions || bytes.length !== 8 + count * 4 + count * dimensions * 4) {
      throw new Error(`${FLAT_FILE} does not hold ${count} vectors of ${this.dimensions} dimensions`);
    }
    const copy = new Uint8Array(bytes.length - 8);
    copy.set(bytes.subarray(8));
    const labels = new Uint32Array(copy.buffer, 0, count);
    const vectors = new Float32Array(copy.buffer, count * 4, count * dimensions);
    labels.forEach((label, row) => this.flat.add(label, vectors.subarray(row * dimensions, (row + 1) * dimensions)));
  }

  /** The graph, created on first use and grown in steps of half its size (never one resize per insert). */
  private roomInGraph(): Graph {
    const { m, efConstruction, efSearch } = this.parameters;
    if (!this.graph) {
      const graph = new HierarchicalNSW('cosine', this.dimensions);
      graph.initIndex({ maxElements: 1024, m, efConstruction, randomSeed: 100, allowReplaceDeleted: true });
      graph.setEf(efSearch);
      this.graph = graph;
    }
    const graph = this.graph;
    const capacity = graph.getMaxElements();
    if (this.graphDeleted === 0 && graph.getCurrentCount() >= capacity) graph.resizeIndex(Math.ceil(capacity * 1.5));
    return graph;
  }
}
