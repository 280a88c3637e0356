import type { StoreOptions } from '../../src/store/hnsw-store.js';
import { silentLogger } from './test-app.js';

/** An embedded store's options for a test: 128-dimensional lexical vectors, snapshots only when asked. */
export function testStoreOptions(dataDir: string, exactSearchMaxChunks: number, overrides: Partial<StoreOptions> = {}): StoreOptions {
  return {
    dataDir,
    hnsw: { m: 16, efConstruction: 100, efSearch: 64, exactSearchMaxChunks, maxIndexBacklog: 1_000_000 },
    embeddingModel: 'local-lexical-v1',
    embeddingDimensions: 128,
    logger: silentLogger,
    snapshotEveryChunks: 1_000_000,
    snapshotIntervalMs: 3_600_000,
    ...overrides,
  };
}
