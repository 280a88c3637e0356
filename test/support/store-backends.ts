import { rm } from 'node:fs/promises';
import pg from 'pg';
import { EmbeddedStore } from '../../src/store/embedded-store.js';
import { HnswStore } from '../../src/store/hnsw-store.js';
import { PgvectorStore } from '../../src/store/pgvector/pgvector-store.js';
import type { DocumentStore } from '../../src/store/store-contract.js';
import { openTestDatabase, type TestDatabase } from './test-database.js';
import { silentLogger, temporaryDir } from './test-app.js';

export interface StoreSettings {
  embeddingModel: string;
  embeddingDimensions: number | undefined;
  hnsw: { m: number; efConstruction: number; efSearch: number; exactSearchMaxChunks: number; maxIndexBacklog: number };
}

/** One backend of the store contract, for the shared behaviour suite: a fresh store per test, reopened on the same data. */
export interface StoreBackend {
  name: 'hnsw' | 'pgvector';
  /** Before the suite (starting a database server, for instance). */
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** Forgets all data: the next open starts empty. */
  reset(): Promise<void>;
  /** Opens the store on the current data, as a restarted process would (an earlier instance may be left unclosed). */
  open(settings?: Partial<StoreSettings>): Promise<DocumentStore>;
  /** Waits until every stored vector is searchable by the index the backend would use at scale. */
  settle(store: DocumentStore, collection: string): Promise<void>;
}

export const DEFAULT_SETTINGS: StoreSettings = {
  embeddingModel: 'local-lexical-v1',
  embeddingDimensions: 128,
  hnsw: { m: 16, efConstruction: 100, efSearch: 64, exactSearchMaxChunks: 0, maxIndexBacklog: 1_000_000 },
};

export function hnswBackend(): StoreBackend {
  let dir: string | undefined;
  const dirs: string[] = [];
  return {
    name: 'hnsw',
    setUp: async () => undefined,
    tearDown: async () => {
      for (const made of dirs) await rm(made, { recursive: true, force: true });
    },
    reset: async () => {
      dir = undefined;
    },
    open: async (settings = {}) => {
      if (!dir) {
        dir = await temporaryDir('store-contract-');
        dirs.push(dir);
      }
      const hnsw = await HnswStore.open({
        ...DEFAULT_SETTINGS,
        ...settings,
        dataDir: dir,
        logger: silentLogger,
        snapshotEveryChunks: 1_000_000,
        snapshotIntervalMs: 3_600_000,
      });
      return new EmbeddedStore(hnsw);
    },
    settle: async (store, collection) => {
      await (store as EmbeddedStore).hnsw.get(collection)?.indexed();
    },
  };
}

/** The service's tables and functions: dropped to give the next test an empty database. */
const RESET_SQL = `
  DROP TABLE IF EXISTS rag_terms, rag_keyword_stats, rag_chunks, rag_documents, rag_collections, rag_manifest, rag_job_parts, rag_jobs, rag_conversation_turns, rag_conversations, rag_schema_migrations CASCADE;
  DROP FUNCTION IF EXISTS rag_metadata_at(jsonb, text[]), rag_metadata_values(jsonb), rag_keyword_stats_add(), rag_keyword_stats_remove();`;

/** Postgres with pgvector: PGlite, or a database of its own on TEST_DATABASE_URL's server (test/support/test-database.ts). */
export function pgvectorBackend(): StoreBackend & { url(): string } {
  let database: TestDatabase | undefined;
  const url = () => (database as TestDatabase).url;
  return {
    name: 'pgvector',
    url,
    setUp: async () => {
      database = await openTestDatabase();
    },
    tearDown: async () => {
      await database?.close();
    },
    reset: async () => {
      const client = new pg.Client(url());
      await client.connect();
      try {
        await client.query(RESET_SQL);
      } finally {
        await client.end();
      }
    },
    open: async (settings = {}) => {
      const { embeddingModel, embeddingDimensions, hnsw } = { ...DEFAULT_SETTINGS, ...settings };
      return PgvectorStore.open({
        url: url(),
        poolSize: 4,
        statementTimeoutMs: 30_000,
        hnsw,
        embeddingModel,
        embeddingDimensions,
        logger: silentLogger,
      });
    },
    settle: async () => undefined,
  };
}
