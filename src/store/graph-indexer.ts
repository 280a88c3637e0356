import type { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { inSlice } from '../time-slices.js';
import type { VectorIndex } from './vector-index.js';

const PROGRESS_EVERY = 5000;

export interface GraphIndexerOptions {
  collection: string;
  logger: Logger;
  /** The collection's write lock: a slice of indexing never runs while a write is half-applied. */
  lock: Mutex;
  vectors: () => VectorIndex | undefined;
  liveChunks: () => number;
  /** Most chunks that may wait for the graph before writers are held back. */
  maxBacklog: number;
}

/**
 * Moves chunks from a collection's exact tier into its HNSW graph in the background, a time slice
 * at a time, and holds writers back while the backlog of chunks waiting for the graph is too long.
 */
export class GraphIndexer {
  private running: Promise<void> | undefined;
  private readonly backlogWaiters: Array<() => void> = [];
  private stopped = false;
  /** The graph took chunks from the exact tier since the last snapshot, which should record that. */
  indexedSinceSnapshot = false;

  constructor(private readonly options: GraphIndexerOptions) {}

  private needsIndexing(): boolean {
    return this.options.vectors()?.needsIndexing(this.options.liveChunks()) ?? false;
  }

  schedule(): void {
    if (this.running || this.stopped || !this.needsIndexing()) return;
    this.running = this.indexInBackground()
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, collection: this.options.collection }, 'graph indexing failed; new chunks stay in the exact tier');
      })
      .finally(() => {
        this.running = undefined;
        this.wakeBacklogWaiters();
      });
  }

  private wakeBacklogWaiters(): void {
    for (const wake of this.backlogWaiters.splice(0)) wake();
  }

  private async indexInBackground(): Promise<void> {
    const { lock, logger, collection } = this.options;
    const started = performance.now();
    let moved = 0;
    let reported = 0;
    for (;;) {
      const step = await lock.runExclusive(() =>
        inSlice((budgetMs) => (this.stopped || !this.needsIndexing() ? 0 : (this.options.vectors() as VectorIndex).indexSome(budgetMs))),
      );
      if (step === 0) break;
      moved += step;
      this.indexedSinceSnapshot = true;
      this.wakeBacklogWaiters();
      if (moved - reported >= PROGRESS_EVERY) {
        reported = moved;
        logger.info({ collection, indexed: moved, waiting: this.options.vectors()?.exactCount }, 'indexing chunks into the graph');
      }
    }
    if (moved > 0) {
      logger.info({ collection, indexed: moved, graph: this.options.vectors()?.graphCount, ms: Math.round(performance.now() - started) }, 'graph indexing caught up');
    }
  }

  /** Resolves once no chunk waits for graph indexing. */
  async idle(): Promise<void> {
    this.schedule();
    while (this.running) await this.running;
  }

  /** Holds a writer back, a graph slice at a time, while more chunks wait for the graph than the backlog allows. */
  async backlogWithinLimit(): Promise<void> {
    while (!this.stopped && (this.options.vectors()?.exactCount ?? 0) > this.options.maxBacklog && this.needsIndexing()) {
      this.schedule();
      await new Promise<void>((resolve) => this.backlogWaiters.push(resolve));
    }
  }

  /** Stops at the next slice; resolves once the indexer has. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
