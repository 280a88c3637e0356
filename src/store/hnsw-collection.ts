import { mkdir, rm } from 'node:fs/promises';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { contentHash } from './content-hash.js';
import { chunkText, DocumentRegistry } from './document-registry.js';
import { GraphIndexer } from './graph-indexer.js';
import { KeywordIndex } from './keyword/keyword-index.js';
import { compareKeywordHits } from './keyword/keyword-order.js';
import { recordProblem, replayLog } from './log-replay.js';
import type { MetadataPredicate } from './metadata-filter.js';
import type { Mutation } from './mutation-codec.js';
import { prepareSnapshotDir, publishSnapshot, readSnapshotEntries, removeCovered } from './snapshot.js';
import { forEachInSlices } from '../time-slices.js';
import { CollectionDroppedError } from './semantics/store-errors.js';
import { finishHits } from './semantics/search-results.js';
import { planUpsert } from './semantics/upsert-plan.js';
import { checkQueryVector } from './semantics/vector-check.js';
import { type HnswParameters, type ScoredLabel, VectorIndex } from './vector-index.js';
import type { ChunkHit, DocumentWrite, StoredDocument, UpsertResult, WriteStatus } from './store-contract.js';
import { WriteAheadLog } from './write-ahead-log.js';

export type { HnswParameters };
export { contentHash };
export type { ChunkHit, DocumentWrite, UpsertResult, WriteStatus };

export interface SearchOptions {
  filter?: MetadataPredicate | undefined;
  minScore?: number | undefined;
}

export interface CollectionOptions {
  name: string;
  dir: string;
  hnsw: HnswParameters;
  logger: Logger;
  /** Vector size fixed for the whole store (from its manifest); undefined until the first vector. */
  dimensions: () => number | undefined;
  /** Called before the first vector of the store is written, to fix the store's dimensions. */
  fixDimensions: (dimensions: number) => Promise<void>;
  /** Chunks written since the last snapshot that trigger the next one. */
  snapshotEveryChunks: number;
}

/** Below this many matching chunks a filtered search is answered exactly, by brute force. */
const EXACT_FILTER_LIMIT = 2000;

const now = () => new Date().toISOString();

/**
 * One collection: its documents and their chunk vectors (a VectorIndex: exact tier plus HNSW
 * graph), durable through a write-ahead log that is fsynced before a write returns and periodic
 * snapshots. Writes, graph indexing and snapshot capture are serialised by one lock; searches
 * never take it, so they wait for none of them. A write's chunks become visible to searches all
 * at once, when the write is applied in full.
 */
export class HnswCollection {
  readonly name: string;
  private readonly options: CollectionOptions;
  private vectors: VectorIndex | undefined;
  private readonly registry = new DocumentRegistry();
  /** BM25 over the registry's chunks, fed by remember() and forget() alone, so it never drifts from the documents. */
  private readonly keywords = new KeywordIndex();
  /** Labels added by a write still being applied: in the vector index, invisible to searches. */
  private readonly pending = new Set<number>();
  private nextLabel = 0;
  private readonly lock = new Mutex();
  private readonly indexer: GraphIndexer;
  private wal!: WriteAheadLog;
  private chunksSinceSnapshot = 0;
  private snapshotting: Promise<void> | undefined;
  private dropped = false;
  /** Log records that could not be read or applied when the collection opened, and were skipped. */
  private skipped = 0;

  private constructor(options: CollectionOptions) {
    this.options = options;
    this.name = options.name;
    this.indexer = new GraphIndexer({
      collection: options.name,
      logger: options.logger,
      lock: this.lock,
      vectors: () => this.vectors,
      liveChunks: () => this.registry.chunkCount,
      maxBacklog: options.hnsw.maxIndexBacklog,
    });
  }

  /** Opens (or creates) a collection: loads the newest snapshot and replays the log written after it. */
  static async open(options: CollectionOptions): Promise<HnswCollection> {
    const collection = new HnswCollection(options);
    await mkdir(options.dir, { recursive: true });
    await collection.recover();
    return collection;
  }

  get documentCount(): number {
    return this.registry.documentCount;
  }

  get chunkCount(): number {
    return this.registry.chunkCount;
  }

  /** Log records skipped when the collection opened because they could not be read or applied. */
  get skippedAtOpen(): number {
    return this.skipped;
  }

  /** Where the chunk vectors are: waiting in (or kept in) the exact tier, or in the HNSW graph. */
  vectorCounts(): { exact: number; graph: number } {
    return { exact: this.vectors?.exactCount ?? 0, graph: this.vectors?.graphCount ?? 0 };
  }

  private async recover(): Promise<void> {
    const { dir, logger } = this.options;
    const started = performance.now();
    const replayed = await replayLog(dir, logger, this.name, {
      loadSnapshot: (snapshotDir) => this.loadSnapshot(snapshotDir),
      recordProblem: (record) => recordProblem(record, this.options.dimensions() ?? this.vectors?.dimensions),
      apply: (mutation) => this.apply(mutation),
      skip: (reason) => {
        this.skipped += 1;
        logger.error({ collection: this.name, reason }, 'skipped a log record that cannot be applied; the collection opens without it');
      },
    });
    this.wal = await WriteAheadLog.open(dir, replayed.appendSegment);
    this.maybeSnapshot();
    this.indexer.schedule();
    logger.info(
      {
        collection: this.name,
        documents: this.registry.documentCount,
        chunks: this.registry.chunkCount,
        snapshot: replayed.snapshot ?? null,
        replayedMutations: replayed.mutations,
        skippedRecords: this.skipped,
        ms: Math.round(performance.now() - started),
      },
      'collection opened',
    );
  }

  private async loadSnapshot(snapshotDir: string): Promise<void> {
    const header = await readSnapshotEntries(snapshotDir, (entry) => this.remember(entry.document, entry.labels));
    this.nextLabel = header.nextLabel;
    if (header.dimensions !== null) {
      this.vectors = await VectorIndex.read(snapshotDir, header.dimensions, this.options.hnsw, this.registry.chunkCount);
    }
  }

  private remember(document: StoredDocument, labels: number[]): void {
    this.registry.remember(document, labels);
    labels.forEach((label, chunk) => this.keywords.add(label, chunkText(document, chunk)));
  }

  private forget(id: string): void {
    const document = this.registry.get(id);
    if (!document) return;
    this.registry.forget(id).forEach((label, chunk) => {
      this.vectors?.remove(label);
      this.keywords.remove(label, chunkText(document, chunk));
    });
  }

  // ---- reads ---------------------------------------------------------------------------------

  getDocument(id: string): StoredDocument | undefined {
    return this.registry.get(id);
  }

  /** Documents ordered by id, starting after `after`; stable under concurrent writes. */
  listDocuments(limit: number, after?: string): { documents: StoredDocument[]; next: string | undefined } {
    return this.registry.list(limit, after);
  }

  /** A stored vector for this chunk text, if any live chunk has the same text. */
  reusableVector(text: string): number[] | undefined {
    const label = this.registry.labelWithText(text);
    return label === undefined ? undefined : this.vectors?.vector(label);
  }

  /** The k nearest chunks to a vector, best first, with cosine similarity as score (higher = closer). */
  searchVector(vector: number[], k: number, options: SearchOptions = {}): ChunkHit[] {
    checkQueryVector(vector, this.options.dimensions() ?? this.vectors?.dimensions);
    const index = this.vectors;
    const live = this.registry.chunkCount;
    if (!index || live === 0 || k <= 0) return [];
    const want = Math.min(k, live);
    const { filter } = options;
    const visible =
      filter || this.pending.size > 0
        ? (label: number) => {
            if (this.pending.has(label)) return false;
            const ref = this.registry.chunk(label);
            return ref !== undefined && (!filter || filter(ref.document.metadata));
          }
        : undefined;
    let hits = index.search(vector, want, visible);
    if (filter && hits.length < want) hits = this.exactFilteredSearch(index, vector, want, filter, hits);
    const found = hits.flatMap(({ label, score }) => {
      const ref = this.registry.chunk(label);
      if (!ref) return [];
      const { document, chunk } = ref;
      return [{ document, chunk, text: chunkText(document, chunk), score }];
    });
    return finishHits(found, options.minScore);
  }

  /**
   * The k chunks that score best by BM25 for the query's terms (see keyword/bm25.ts), best first;
   * a filter is applied to every match, so k matching chunks come back whenever k hold a term.
   */
  searchKeyword(query: string, k: number, options: SearchOptions = {}): ChunkHit[] {
    if (k <= 0) return [];
    const { filter, minScore } = options;
    const visible = filter
      ? (label: number) => {
          const ref = this.registry.chunk(label);
          return ref !== undefined && filter(ref.document.metadata);
        }
      : undefined;
    const matches = this.keywords.search(query, k, visible).filter((match) => minScore === undefined || match.score >= minScore);
    return matches
      .flatMap(({ label, score }) => {
        const ref = this.registry.chunk(label);
        return ref ? [{ document: ref.document, chunk: ref.chunk, text: chunkText(ref.document, ref.chunk), score }] : [];
      })
      .sort(compareKeywordHits)
      .slice(0, k);
  }

  /**
   * The graph walk found fewer than k matches: when few chunks match at all, score every match
   * exactly, so a filtered search returns k hits whenever k matching chunks exist.
   */
  private exactFilteredSearch(index: VectorIndex, vector: number[], want: number, filter: MetadataPredicate, approximate: ScoredLabel[]): ScoredLabel[] {
    const matching = this.registry.labelsMatching(filter, EXACT_FILTER_LIMIT);
    if (!matching || matching.length <= approximate.length) return approximate;
    return index.score(vector, matching).slice(0, want);
  }

  // ---- writes --------------------------------------------------------------------------------

  /**
   * Stores documents, replacing any with the same id: the shared upsert plan (semantics/upsert-plan.ts)
   * is made under the write lock against the registry, so no write changes what it read, and its
   * changes are logged and applied as one record.
   */
  async upsert(writes: DocumentWrite[]): Promise<UpsertResult> {
    const result = await this.exclusive(async (): Promise<UpsertResult> => {
      const plan = await planUpsert(writes, {
        dimensions: this.options.dimensions(),
        held: async (ids) => new Map(ids.flatMap((id) => {
          const document = this.registry.get(id);
          return document ? [[id, { contentHash: document.contentHash, metadata: document.metadata, chunks: document.spans.length }] as const] : [];
        })),
        reusable: async (texts) => new Map(texts.flatMap((text) => {
          const vector = this.reusableVector(text);
          return vector ? [[text, vector] as const] : [];
        })),
      });
      if (!plan.applied) return plan;
      const stamp = now();
      let label = this.nextLabel;
      const mutations = plan.changes.map((change): Mutation => {
        const { write } = change;
        if (change.op === 'metadata') return { op: 'metadata', id: write.id, metadata: write.metadata, updatedAt: stamp };
        const document: StoredDocument = {
          id: write.id,
          text: write.text,
          metadata: write.metadata,
          contentHash: write.contentHash,
          spans: write.spans,
          createdAt: this.registry.get(write.id)?.createdAt ?? stamp,
          updatedAt: stamp,
        };
        return { op: 'put', document, labels: write.spans.map(() => label++), vectors: change.flat };
      });
      await this.commit(mutations);
      return { applied: true, outcomes: plan.outcomes };
    });
    if (result.applied) await this.indexer.backlogWithinLimit();
    return result;
  }

  /** Deletes documents by id; returns the ids that existed. */
  async deleteDocuments(ids: string[]): Promise<string[]> {
    return this.exclusive(async () => {
      const existing = [...new Set(ids)].filter((id) => this.registry.has(id));
      if (existing.length > 0) await this.commit([{ op: 'delete', ids: existing }]);
      return existing;
    });
  }

  /** Deletes every document whose metadata matches; returns their ids. */
  async deleteWhere(filter: MetadataPredicate): Promise<string[]> {
    return this.exclusive(async () => {
      const matching = this.registry.idsMatching(filter);
      if (matching.length > 0) await this.commit([{ op: 'delete', ids: matching }]);
      return matching;
    });
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.lock.runExclusive(async () => {
      if (this.dropped) throw new CollectionDroppedError(this.name);
      return work();
    });
  }

  /** Log first (fsynced), then apply; the caller holds the lock. */
  private async commit(mutations: Mutation[]): Promise<void> {
    if (mutations.length === 0) return;
    const firstPut = mutations.find((mutation) => mutation.op === 'put');
    if (firstPut && this.options.dimensions() === undefined) {
      await this.options.fixDimensions(firstPut.vectors.length / firstPut.labels.length);
    }
    await this.wal.append(mutations);
    for (const mutation of mutations) await this.apply(mutation);
    this.maybeSnapshot();
    this.indexer.schedule();
  }

  private async apply(mutation: Mutation): Promise<void> {
    switch (mutation.op) {
      case 'delete':
        for (const id of mutation.ids) this.forget(id);
        return;
      case 'metadata':
        this.registry.updateMetadata(mutation.id, mutation.metadata, mutation.updatedAt);
        return;
      case 'put':
        await this.insert(mutation.labels, mutation.vectors);
        this.forget(mutation.document.id);
        this.remember(mutation.document, mutation.labels);
        for (const label of mutation.labels) this.pending.delete(label);
        this.nextLabel = Math.max(this.nextLabel, (mutation.labels.at(-1) ?? -1) + 1);
        this.chunksSinceSnapshot += mutation.labels.length;
    }
  }

  /** Adds vectors to the exact tier in time slices, yielding between them; they stay pending until the caller commits. */
  private async insert(labels: number[], flat: Float32Array): Promise<void> {
    if (labels.length === 0) return;
    const dimensions = flat.length / labels.length;
    this.vectors ??= VectorIndex.create(dimensions, this.options.hnsw);
    const vectors = this.vectors;
    for (const label of labels) this.pending.add(label);
    await forEachInSlices(labels, (label, position) => vectors.add(label, flat.subarray(position * dimensions, (position + 1) * dimensions)));
  }

  /** Resolves once no chunk waits for graph indexing (tests and benchmarks wait for this). */
  indexed(): Promise<void> {
    return this.indexer.idle();
  }

  // ---- snapshots -----------------------------------------------------------------------------

  private maybeSnapshot(): void {
    if (this.chunksSinceSnapshot < this.options.snapshotEveryChunks || this.snapshotting) return;
    this.snapshot().catch((error: unknown) => {
      this.options.logger.error({ err: error, collection: this.name }, 'snapshot failed; the write-ahead log still holds every write');
    });
  }

  /**
   * Writes a snapshot: under the lock, the log moves to a new segment and the vectors are written
   * (the graph in the background thread pool, so searches go on); then, outside the lock, the
   * documents are written, everything fsynced and the snapshot renamed into place. Only then are
   * older log segments and snapshots removed.
   */
  async snapshot(): Promise<void> {
    if (this.snapshotting) return this.snapshotting;
    this.snapshotting = this.takeSnapshot().finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  private async takeSnapshot(): Promise<void> {
    const { dir, logger } = this.options;
    const started = performance.now();
    const captured = await this.exclusive(async () => {
      if (this.chunksSinceSnapshot === 0 && this.wal.bytes === 0 && !this.indexer.indexedSinceSnapshot) return undefined;
      const segment = this.wal.currentSegment;
      const temporary = await prepareSnapshotDir(dir, segment);
      await this.vectors?.write(temporary);
      const entries = this.registry.entries();
      const header = { format: 1 as const, segment, nextLabel: this.nextLabel, dimensions: this.vectors?.dimensions ?? null };
      await this.wal.rotate();
      this.chunksSinceSnapshot = 0;
      this.indexer.indexedSinceSnapshot = false;
      return { temporary, header, entries, vectorFiles: this.vectors?.files() ?? [] };
    });
    if (!captured) return;
    await publishSnapshot(dir, captured.temporary, captured.header, captured.entries, captured.vectorFiles);
    await removeCovered(dir, captured.header.segment);
    logger.info(
      { collection: this.name, segment: captured.header.segment, documents: captured.entries.length, ms: Math.round(performance.now() - started) },
      'snapshot written',
    );
  }

  /** Snapshots if anything changed, then closes the log; used at shutdown. */
  async close(): Promise<void> {
    if (this.dropped) return;
    await this.indexer.stop();
    await this.snapshot();
    await this.lock.runExclusive(() => this.wal.close());
  }

  /**
   * Removes the collection; later writes fail. `moveAway` takes the directory out of the live tree
   * durably (a rename) before its files are deleted, so a crash mid-drop cannot leave half of it.
   */
  async drop(moveAway: (dir: string) => Promise<string>): Promise<void> {
    await this.exclusive(async () => {
      this.dropped = true;
      await this.wal.close();
    });
    await this.indexer.stop();
    await this.snapshotting?.catch(() => undefined);
    await rm(await moveAway(this.options.dir), { recursive: true, force: true });
  }
}
