import { isDeepStrictEqual } from 'node:util';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import { VectorStore } from '@langchain/core/vectorstores';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { chunkHash, contentHash } from './content-hash.js';
import { compileFilter, type MetadataFilter, type MetadataPredicate } from './metadata-filter.js';
import type { Mutation, StoredDocument } from './mutation-codec.js';
import {
  listSnapshots,
  prepareSnapshotDir,
  publishSnapshot,
  readSnapshotEntries,
  snapshotName,
  type SnapshotEntry,
} from './snapshot.js';
import { forEachInSlices, inSlice } from '../time-slices.js';
import { flatVectorsProblem, InvalidVectorError } from './vector-check.js';
import { type HnswParameters, type ScoredLabel, VectorIndex } from './vector-index.js';
import type { ChunkHit, DocumentWrite, UpsertResult, WriteStatus } from './store-contract.js';
import { listSegments, readSegment, segmentName, WriteAheadLog } from './write-ahead-log.js';

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
  embeddings: EmbeddingsInterface;
  logger: Logger;
  /** Vector size fixed for the whole store (from its manifest); undefined until the first vector. */
  dimensions: () => number | undefined;
  /** Called before the first vector of the store is written, to fix the store's dimensions. */
  fixDimensions: (dimensions: number) => Promise<void>;
  /** Chunks written since the last snapshot that trigger the next one. */
  snapshotEveryChunks: number;
}

interface ChunkRef {
  document: StoredDocument;
  chunk: number;
}

/** Below this many matching chunks a filtered search is answered exactly, by brute force. */
const EXACT_FILTER_LIMIT = 2000;
const PROGRESS_EVERY = 5000;

const chunkText = (document: StoredDocument, chunk: number) => {
  const [start, end] = document.spans[chunk] as [number, number];
  return document.text.slice(start, end);
};
const now = () => new Date().toISOString();

/**
 * A document's chunk vectors as one float32 array, refused (before anything is logged) unless
 * each has the store's size and is a usable direction.
 */
function flatten(id: string, vectors: number[][], dimensions: number): Float32Array {
  const flat = new Float32Array(vectors.length * dimensions);
  vectors.forEach((vector, position) => {
    if (vector.length !== dimensions) {
      throw new InvalidVectorError(`document "${id}" chunk ${position}: vector has ${vector.length} dimensions, the store holds ${dimensions}-dimensional vectors`);
    }
    flat.set(vector, position * dimensions);
  });
  const problem = flatVectorsProblem(flat, dimensions);
  if (problem) throw new InvalidVectorError(`document "${id}": ${problem.replace(/^vector (\d+)/, 'chunk $1')}`);
  return flat;
}

/** A write found its collection dropped while it waited for the lock; nothing of it was written. */
export class CollectionDroppedError extends Error {}

/**
 * One collection: its documents and their chunk vectors (a VectorIndex: exact tier plus HNSW
 * graph), durable through a write-ahead log that is fsynced before a write returns and periodic
 * snapshots. Writes, graph indexing and snapshot capture are serialised by one lock; searches
 * never take it, so they wait for none of them. A write's chunks become visible to searches all
 * at once, when the write is applied in full.
 */
export class HnswCollection extends VectorStore {
  declare FilterType: MetadataFilter;

  readonly name: string;
  private readonly options: CollectionOptions;
  private vectors: VectorIndex | undefined;
  private readonly documents = new Map<string, StoredDocument>();
  private readonly labelsOf = new Map<string, number[]>();
  private readonly chunkAt = new Map<number, ChunkRef>();
  /** Chunk-text hash → a live label whose vector can be reused instead of embedding again. */
  private readonly vectorSource = new Map<string, number>();
  /** Labels added by a write still being applied: in the vector index, invisible to searches. */
  private readonly pending = new Set<number>();
  private nextLabel = 0;
  private readonly lock = new Mutex();
  private wal!: WriteAheadLog;
  private chunksSinceSnapshot = 0;
  private snapshotting: Promise<void> | undefined;
  private indexing: Promise<void> | undefined;
  /** Writers held back by the indexing backlog, woken after each graph slice. */
  private readonly backlogWaiters: Array<() => void> = [];
  private sortedIds: string[] | undefined;
  private dropped = false;
  /** Set by close and drop: background work stops at its next step. */
  private closing = false;
  /** The graph took chunks from the exact tier since the last snapshot, which should record that. */
  private indexedSinceSnapshot = false;
  /** Log records that could not be read or applied when the collection opened, and were skipped. */
  private skipped = 0;

  private constructor(options: CollectionOptions) {
    super(options.embeddings, {});
    this.options = options;
    this.name = options.name;
  }

  _vectorstoreType(): string {
    return 'hnsw-durable';
  }

  /** Opens (or creates) a collection: loads the newest snapshot and replays the log written after it. */
  static async open(options: CollectionOptions): Promise<HnswCollection> {
    const collection = new HnswCollection(options);
    await mkdir(options.dir, { recursive: true });
    await collection.recover();
    return collection;
  }

  get documentCount(): number {
    return this.documents.size;
  }

  get chunkCount(): number {
    return this.chunkAt.size;
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
    const snapshots = await listSnapshots(dir);
    const latest = snapshots.at(-1);
    if (latest !== undefined) await this.loadSnapshot(join(dir, snapshotName(latest)));

    const covered = latest ?? 0;
    const segments = await listSegments(dir);
    await Promise.all(segments.filter((segment) => segment <= covered).map((segment) => rm(join(dir, segmentName(segment)), { force: true })));
    const toReplay = segments.filter((segment) => segment > covered);
    let replayed = 0;
    for (const segment of toReplay) {
      const { records, droppedBytes, skipped } = await readSegment(dir, segment, segment === toReplay.at(-1));
      if (droppedBytes > 0) {
        logger.warn({ collection: this.name, segment, droppedBytes }, 'dropped a torn, unacknowledged write at the end of the log');
      }
      for (const reason of skipped) this.skipRecord(reason);
      for (const record of records) {
        const problem = this.recordProblem(record);
        if (problem) {
          this.skipRecord(`segment ${segment}: ${problem}`);
          continue;
        }
        for (const mutation of record) await this.apply(mutation);
        replayed += record.length;
      }
    }
    this.wal = await WriteAheadLog.open(dir, toReplay.at(-1) ?? covered + 1);
    this.maybeSnapshot();
    this.scheduleIndexing();
    logger.info(
      {
        collection: this.name,
        documents: this.documents.size,
        chunks: this.chunkAt.size,
        snapshot: latest ?? null,
        replayedMutations: replayed,
        skippedRecords: this.skipped,
        ms: Math.round(performance.now() - started),
      },
      'collection opened',
    );
  }

  /** A record that cannot be applied is skipped whole, and said so loudly: the collection still opens. */
  private skipRecord(reason: string): void {
    this.skipped += 1;
    this.options.logger.error({ collection: this.name, reason }, 'skipped a log record that cannot be applied; the collection opens without it');
  }

  /** Why a logged record cannot be applied as a whole (a vector the store cannot hold), or undefined. */
  private recordProblem(record: Mutation[]): string | undefined {
    const dimensions = this.options.dimensions() ?? this.vectors?.dimensions;
    for (const mutation of record) {
      if (mutation.op !== 'put' || mutation.labels.length === 0) continue;
      const size = dimensions ?? mutation.vectors.length / mutation.labels.length;
      if (mutation.vectors.length !== size * mutation.labels.length) {
        return `document "${mutation.document.id}" has ${mutation.vectors.length / mutation.labels.length}-dimensional vectors, the store holds ${size}`;
      }
      const problem = flatVectorsProblem(mutation.vectors, size);
      if (problem) return `document "${mutation.document.id}": ${problem}`;
    }
    return undefined;
  }

  private async loadSnapshot(snapshotDir: string): Promise<void> {
    const header = await readSnapshotEntries(snapshotDir, (entry) => this.remember(entry.document, entry.labels));
    this.nextLabel = header.nextLabel;
    if (header.dimensions !== null) {
      this.vectors = await VectorIndex.read(snapshotDir, header.dimensions, this.options.hnsw, this.chunkAt.size);
    }
  }

  private remember(document: StoredDocument, labels: number[]): void {
    this.documents.set(document.id, document);
    this.labelsOf.set(document.id, labels);
    labels.forEach((label, chunk) => {
      this.chunkAt.set(label, { document, chunk });
      this.vectorSource.set(chunkHash(chunkText(document, chunk)), label);
    });
    this.sortedIds = undefined;
  }

  private forget(id: string): void {
    const document = this.documents.get(id);
    if (!document) return;
    const labels = this.labelsOf.get(id) ?? [];
    labels.forEach((label, chunk) => {
      this.vectors?.remove(label);
      this.chunkAt.delete(label);
      const hash = chunkHash(chunkText(document, chunk));
      if (this.vectorSource.get(hash) === label) this.vectorSource.delete(hash);
    });
    this.documents.delete(id);
    this.labelsOf.delete(id);
    this.sortedIds = undefined;
  }

  // ---- reads ---------------------------------------------------------------------------------

  getDocument(id: string): StoredDocument | undefined {
    return this.documents.get(id);
  }

  /** Documents ordered by id, starting after `after`; stable under concurrent writes. */
  listDocuments(limit: number, after?: string): { documents: StoredDocument[]; next: string | undefined } {
    this.sortedIds ??= [...this.documents.keys()].sort();
    const ids = this.sortedIds;
    let start = 0;
    if (after !== undefined) {
      let low = 0;
      let high = ids.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if ((ids[middle] as string) <= after) low = middle + 1;
        else high = middle;
      }
      start = low;
    }
    const page = ids.slice(start, start + limit);
    const documents = page.map((id) => this.documents.get(id) as StoredDocument);
    return { documents, next: start + limit < ids.length ? page.at(-1) : undefined };
  }

  /** A stored vector for this chunk text, if any live chunk has the same text. */
  reusableVector(text: string): number[] | undefined {
    const label = this.vectorSource.get(chunkHash(text));
    return label === undefined ? undefined : this.vectors?.vector(label);
  }

  /** The k nearest chunks to a vector, best first, with cosine similarity as score (higher = closer). */
  searchVector(vector: number[], k: number, options: SearchOptions = {}): ChunkHit[] {
    const index = this.vectors;
    const live = this.chunkAt.size;
    if (!index || live === 0 || k <= 0) return [];
    const want = Math.min(k, live);
    const { filter } = options;
    const visible =
      filter || this.pending.size > 0
        ? (label: number) => {
            if (this.pending.has(label)) return false;
            const ref = this.chunkAt.get(label);
            return ref !== undefined && (!filter || filter(ref.document.metadata));
          }
        : undefined;
    let hits = index.search(vector, want, visible);
    if (filter && hits.length < want) hits = this.exactFilteredSearch(vector, want, filter, hits);
    return hits
      .filter((hit) => options.minScore === undefined || hit.score >= options.minScore)
      .map(({ label, score }) => {
        const { document, chunk } = this.chunkAt.get(label) as ChunkRef;
        return { document, chunk, text: chunkText(document, chunk), score: Math.max(-1, Math.min(1, score)) };
      });
  }

  /**
   * The graph walk found fewer than k matches: when few chunks match at all, score every match
   * exactly, so a filtered search returns k hits whenever k matching chunks exist.
   */
  private exactFilteredSearch(vector: number[], want: number, filter: MetadataPredicate, approximate: ScoredLabel[]): ScoredLabel[] {
    const matching: number[] = [];
    for (const [id, document] of this.documents) {
      if (!filter(document.metadata)) continue;
      for (const label of this.labelsOf.get(id) ?? []) if (!this.pending.has(label)) matching.push(label);
      if (matching.length > EXACT_FILTER_LIMIT) return approximate;
    }
    if (matching.length <= approximate.length) return approximate;
    return (this.vectors as VectorIndex).score(vector, matching).slice(0, want);
  }

  // ---- writes --------------------------------------------------------------------------------

  /**
   * Stores documents, replacing any with the same id. Under the write lock it decides, against the
   * current state, what each document needs: nothing (same content and metadata), a metadata
   * update (same content), or new chunks, whose vectors come from the write or from a live chunk
   * of equal text. If a vector is missing because the store changed meanwhile, nothing is written
   * and the caller is told which chunks to embed.
   */
  async upsert(writes: DocumentWrite[]): Promise<UpsertResult> {
    const result = await this.exclusive(async (): Promise<UpsertResult> => {
      const mutations: Mutation[] = [];
      const outcomes: Array<{ id: string; status: WriteStatus; chunks: number }> = [];
      const missing: Array<{ write: number; chunk: number }> = [];
      const stamp = now();
      let label = this.nextLabel;
      const dimensions = this.options.dimensions() ?? writes.flatMap((write) => write.vectors).find((vector) => vector !== undefined)?.length;
      writes.forEach((write, position) => {
        const current = this.documents.get(write.id);
        if (current && current.contentHash === write.contentHash) {
          const sameMetadata = isDeepStrictEqual(current.metadata, write.metadata);
          if (!sameMetadata) mutations.push({ op: 'metadata', id: write.id, metadata: write.metadata, updatedAt: stamp });
          outcomes.push({ id: write.id, status: sameMetadata ? 'unchanged' : 'updated', chunks: current.spans.length });
          return;
        }
        const vectors = write.spans.map((span, chunk) => write.vectors[chunk] ?? this.reusableVector(write.text.slice(...span)));
        vectors.forEach((vector, chunk) => {
          if (!vector) missing.push({ write: position, chunk });
        });
        if (missing.length > 0) return;
        const document: StoredDocument = {
          id: write.id,
          text: write.text,
          metadata: write.metadata,
          contentHash: write.contentHash,
          spans: write.spans,
          createdAt: current?.createdAt ?? stamp,
          updatedAt: stamp,
        };
        const labels = write.spans.map(() => label++);
        mutations.push({ op: 'put', document, labels, vectors: flatten(write.id, vectors as number[][], dimensions ?? 0) });
        outcomes.push({ id: write.id, status: current ? 'updated' : 'created', chunks: labels.length });
      });
      if (missing.length > 0) return { applied: false, missing };
      await this.commit(mutations);
      return { applied: true, outcomes };
    });
    if (result.applied) await this.indexingBacklogWithinLimit();
    return result;
  }

  /** Deletes documents by id; returns the ids that existed. */
  async deleteDocuments(ids: string[]): Promise<string[]> {
    return this.exclusive(async () => {
      const existing = [...new Set(ids)].filter((id) => this.documents.has(id));
      if (existing.length > 0) await this.commit([{ op: 'delete', ids: existing }]);
      return existing;
    });
  }

  /** Deletes every document whose metadata matches; returns their ids. */
  async deleteWhere(filter: MetadataPredicate): Promise<string[]> {
    return this.exclusive(async () => {
      const matching = [...this.documents.values()].filter((document) => filter(document.metadata)).map((document) => document.id);
      if (matching.length > 0) await this.commit([{ op: 'delete', ids: matching }]);
      return matching;
    });
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.lock.runExclusive(async () => {
      if (this.dropped) throw new CollectionDroppedError(`collection ${this.name} was dropped`);
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
    this.scheduleIndexing();
  }

  private async apply(mutation: Mutation): Promise<void> {
    switch (mutation.op) {
      case 'delete':
        for (const id of mutation.ids) this.forget(id);
        return;
      case 'metadata': {
        const current = this.documents.get(mutation.id);
        if (!current) return;
        const updated = { ...current, metadata: mutation.metadata, updatedAt: mutation.updatedAt };
        this.documents.set(mutation.id, updated);
        for (const label of this.labelsOf.get(mutation.id) ?? []) {
          const ref = this.chunkAt.get(label) as ChunkRef;
          this.chunkAt.set(label, { document: updated, chunk: ref.chunk });
        }
        return;
      }
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

  // ---- graph indexing ------------------------------------------------------------------------

  private scheduleIndexing(): void {
    if (this.indexing || this.closing || !this.vectors?.needsIndexing(this.chunkAt.size)) return;
    this.indexing = this.indexInBackground()
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, collection: this.name }, 'graph indexing failed; new chunks stay in the exact tier');
      })
      .finally(() => {
        this.indexing = undefined;
        this.wakeBacklogWaiters();
      });
  }

  private wakeBacklogWaiters(): void {
    for (const wake of this.backlogWaiters.splice(0)) wake();
  }

  /** Moves chunks from the exact tier into the HNSW graph, a time slice at a time, each under the write lock. */
  private async indexInBackground(): Promise<void> {
    const started = performance.now();
    let moved = 0;
    let reported = 0;
    for (;;) {
      const step = await this.lock.runExclusive(() =>
        inSlice((budgetMs) => {
          const vectors = this.vectors;
          if (this.closing || !vectors?.needsIndexing(this.chunkAt.size)) return 0;
          return vectors.indexSome(budgetMs);
        }),
      );
      if (step === 0) break;
      moved += step;
      this.indexedSinceSnapshot = true;
      this.wakeBacklogWaiters();
      if (moved - reported >= PROGRESS_EVERY) {
        reported = moved;
        this.options.logger.info({ collection: this.name, indexed: moved, waiting: this.vectors?.exactCount }, 'indexing chunks into the graph');
      }
    }
    if (moved > 0) {
      this.options.logger.info(
        { collection: this.name, indexed: moved, graph: this.vectors?.graphCount, ms: Math.round(performance.now() - started) },
        'graph indexing caught up',
      );
    }
  }

  /** Resolves once no chunk waits for graph indexing (tests and benchmarks wait for this). */
  async indexed(): Promise<void> {
    this.scheduleIndexing();
    while (this.indexing) await this.indexing;
  }

  /** Holds a writer back, a graph slice at a time, while more chunks wait for the graph than the backlog allows. */
  private async indexingBacklogWithinLimit(): Promise<void> {
    const limit = this.options.hnsw.maxIndexBacklog;
    while (!this.closing && (this.vectors?.exactCount ?? 0) > limit && this.vectors?.needsIndexing(this.chunkAt.size)) {
      this.scheduleIndexing();
      await new Promise<void>((resolve) => this.backlogWaiters.push(resolve));
    }
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
      if (this.chunksSinceSnapshot === 0 && this.wal.bytes === 0 && !this.indexedSinceSnapshot) return undefined;
      const segment = this.wal.currentSegment;
      const temporary = await prepareSnapshotDir(dir, segment);
      await this.vectors?.write(temporary);
      const entries: SnapshotEntry[] = [...this.documents.values()].map((document) => ({
        document,
        labels: [...(this.labelsOf.get(document.id) ?? [])],
      }));
      const header = { format: 1 as const, segment, nextLabel: this.nextLabel, dimensions: this.vectors?.dimensions ?? null };
      await this.wal.rotate();
      this.chunksSinceSnapshot = 0;
      this.indexedSinceSnapshot = false;
      return { segment, temporary, header, entries, vectorFiles: this.vectors?.files() ?? [] };
    });
    if (!captured) return;
    await publishSnapshot(dir, captured.temporary, captured.header, captured.entries, captured.vectorFiles);
    for (const older of (await listSnapshots(dir)).filter((segment) => segment < captured.segment)) {
      await rm(join(dir, snapshotName(older)), { recursive: true, force: true });
    }
    for (const segment of (await listSegments(dir)).filter((segment) => segment <= captured.segment)) {
      await rm(join(dir, segmentName(segment)), { force: true });
    }
    logger.info(
      { collection: this.name, segment: captured.segment, documents: captured.entries.length, ms: Math.round(performance.now() - started) },
      'snapshot written',
    );
  }

  /** Snapshots if anything changed, then closes the log; used at shutdown. */
  async close(): Promise<void> {
    if (this.dropped) return;
    this.closing = true;
    await this.indexing;
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
      this.closing = true;
      await this.wal.close();
    });
    await this.indexing;
    await this.snapshotting?.catch(() => undefined);
    await rm(await moveAway(this.options.dir), { recursive: true, force: true });
  }

  // ---- LangChain VectorStore -----------------------------------------------------------------

  async addVectors(vectors: number[][], documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    const writes = documents.map((document, position): DocumentWrite => {
      const id = options?.ids?.[position] ?? document.id ?? crypto.randomUUID();
      return {
        id,
        text: document.pageContent,
        metadata: document.metadata,
        contentHash: contentHash(document.pageContent, 'whole'),
        spans: [[0, document.pageContent.length]],
        vectors: [vectors[position]],
      };
    });
    const result = await this.upsert(writes);
    if (!result.applied) throw new Error('documents changed while being added; add them again');
    return writes.map((write) => write.id);
  }

  async addDocuments(documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((document) => document.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  async similaritySearchVectorWithScore(
    query: number[],
    k: number,
    filter?: this['FilterType'],
  ): Promise<[DocumentInterface, number][]> {
    const predicate = filter ? compileFilter(filter) : undefined;
    return this.searchVector(query, k, { filter: predicate }).map((hit) => [
      new Document({ id: hit.document.id, pageContent: hit.text, metadata: { ...hit.document.metadata } }),
      hit.score,
    ]);
  }

  override async delete(params?: { ids?: string[] }): Promise<void> {
    await this.deleteDocuments(params?.ids ?? []);
  }
}
