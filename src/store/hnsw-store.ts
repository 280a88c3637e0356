import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { lockDataDir } from './data-dir-lock.js';
import { fsyncDirectory, writeFileAtomic } from './durable-fs.js';
import { HnswCollection, type HnswParameters } from './hnsw-collection.js';
import { checkEmbeddingSpace, fixesDimensions } from './semantics/embedding-space.js';
import { COLLECTION_NAME, type CollectionSummary } from './store-contract.js';


export interface StoreOptions {
  dataDir: string;
  hnsw: HnswParameters;
  /** The embedding model the vectors come from; a store built with another refuses to open. */
  embeddingModel: string;
  /** Known up front for some models; otherwise fixed by the first vector stored. */
  embeddingDimensions: number | undefined;
  logger: Logger;
  snapshotEveryChunks: number;
  snapshotIntervalMs: number;
}

interface Manifest {
  format: 1;
  embeddings: { model: string; dimensions: number | null };
  createdAt: string;
}

/**
 * All collections under DATA_DIR, sharing one embedding space recorded in `manifest.json`.
 * A collection is created by its first write and dropped as a whole.
 */
export class HnswStore {
  private readonly collections = new Map<string, HnswCollection>();
  private readonly registryLock = new Mutex();
  private manifest!: Manifest;
  private timer: NodeJS.Timeout | undefined;
  private unlock: (() => Promise<void>) | undefined;

  private constructor(private readonly options: StoreOptions) {}

  static async open(options: StoreOptions): Promise<HnswStore> {
    const store = new HnswStore(options);
    await mkdir(store.collectionsDir, { recursive: true });
    store.unlock = await lockDataDir(options.dataDir);
    try {
      await store.loadManifest();
      await store.openCollections();
    } catch (error) {
      await store.unlock();
      throw error;
    }
    store.timer = setInterval(() => store.snapshotAll(), options.snapshotIntervalMs);
    store.timer.unref();
    return store;
  }

  private get collectionsDir(): string {
    return join(this.options.dataDir, 'collections');
  }

  private get manifestPath(): string {
    return join(this.options.dataDir, 'manifest.json');
  }

  get embeddingModel(): string {
    return this.manifest.embeddings.model;
  }

  get dimensions(): number | undefined {
    return this.manifest.embeddings.dimensions ?? undefined;
  }

  private async loadManifest(): Promise<void> {
    const { embeddingModel, embeddingDimensions, dataDir } = this.options;
    let existing: Manifest | undefined;
    try {
      existing = JSON.parse(await readFile(this.manifestPath, 'utf8')) as Manifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!existing) {
      this.manifest = {
        format: 1,
        embeddings: { model: embeddingModel, dimensions: embeddingDimensions ?? null },
        createdAt: new Date().toISOString(),
      };
      await writeFileAtomic(this.manifestPath, JSON.stringify(this.manifest, null, 2));
      return;
    }
    const recorded = existing.embeddings;
    checkEmbeddingSpace(
      { model: recorded.model, dimensions: recorded.dimensions ?? undefined },
      { model: embeddingModel, dimensions: embeddingDimensions },
      { name: `DATA_DIR ${dataDir}`, fresh: 'point DATA_DIR at a new directory' },
    );
    this.manifest = existing;
  }

  /** Fixes the store's dimensions from its first vector; a later vector of another size is refused. */
  private async fixDimensions(dimensions: number): Promise<void> {
    if (!fixesDimensions({ model: this.embeddingModel, dimensions: this.dimensions }, dimensions)) return;
    this.manifest = { ...this.manifest, embeddings: { ...this.manifest.embeddings, dimensions } };
    await writeFileAtomic(this.manifestPath, JSON.stringify(this.manifest, null, 2));
  }

  private async openCollections(): Promise<void> {
    const entries = await readdir(this.collectionsDir, { withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      if (entry.name.startsWith('.dropped-')) {
        await rm(join(this.collectionsDir, entry.name), { recursive: true, force: true });
        continue;
      }
      if (!COLLECTION_NAME.test(entry.name)) continue;
      this.collections.set(entry.name, await this.openCollection(entry.name));
    }
  }

  private openCollection(name: string): Promise<HnswCollection> {
    const { hnsw, logger, snapshotEveryChunks } = this.options;
    return HnswCollection.open({
      name,
      dir: join(this.collectionsDir, name),
      hnsw,
      logger,
      snapshotEveryChunks,
      dimensions: () => this.dimensions,
      fixDimensions: (dimensions) => this.fixDimensions(dimensions),
    });
  }

  get(name: string): HnswCollection | undefined {
    return this.collections.get(name);
  }

  /** The named collection, created (durably: its directory and first log segment) if new. */
  async getOrCreate(name: string): Promise<HnswCollection> {
    if (!COLLECTION_NAME.test(name)) throw new Error(`invalid collection name ${name}`);
    const existing = this.collections.get(name);
    if (existing) return existing;
    return this.registryLock.runExclusive(async () => {
      const raced = this.collections.get(name);
      if (raced) return raced;
      const collection = await this.openCollection(name);
      await fsyncDirectory(this.collectionsDir);
      this.collections.set(name, collection);
      this.options.logger.info({ collection: name }, 'collection created');
      return collection;
    });
  }

  list(): CollectionSummary[] {
    return [...this.collections.values()]
      .map((collection) => ({ name: collection.name, documents: collection.documentCount, chunks: collection.chunkCount }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Drops a collection: it disappears at once, and its files are renamed away before removal so a crash cannot half-drop it. */
  async drop(name: string): Promise<boolean> {
    return this.registryLock.runExclusive(async () => {
      const collection = this.collections.get(name);
      if (!collection) return false;
      this.collections.delete(name);
      const graveyard = join(this.collectionsDir, `.dropped-${name}-${Date.now()}`);
      await collection.drop(async (dir) => {
        await rename(dir, graveyard);
        await fsyncDirectory(this.collectionsDir);
        return graveyard;
      });
      this.options.logger.info({ collection: name }, 'collection dropped');
      return true;
    });
  }

  private snapshotAll(): void {
    for (const collection of this.collections.values()) {
      collection.snapshot().catch((error: unknown) => {
        this.options.logger.error({ err: error, collection: collection.name }, 'scheduled snapshot failed');
      });
    }
  }

  /** Snapshots every collection and closes its log; the next start then has nothing to replay. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.collections.values()].map((collection) => collection.close()));
    await this.unlock?.();
  }
}
