import { after } from 'node:test';
import { pgvectorBackend } from './store-backends.js';

/**
 * The store backends the whole service runs on, for API tests that must hold on both: the
 * embedded HNSW store, and Postgres with pgvector (PGlite over the wire protocol, or a database
 * of its own on TEST_DATABASE_URL's server). A test file that calls serviceBackends() at its top
 * level gets one database, made when a suite first asks for it, shared by its suites and stopped
 * or dropped after its last test.
 */
export interface ServiceBackend {
  name: 'hnsw' | 'pgvector';
  /**
   * An empty store: the environment that points the service at it, for startTestApp. The embedded
   * store's data live in each test app's own DATA_DIR; the database is emptied.
   */
  prepare(): Promise<Record<string, string>>;
}

export function serviceBackends(): ServiceBackend[] {
  const database = pgvectorBackend();
  let started: Promise<void> | undefined;
  after(async () => {
    if (started) await database.tearDown();
  });
  return [
    { name: 'hnsw', prepare: async () => ({ VECTOR_STORE: 'hnsw' }) },
    {
      name: 'pgvector',
      prepare: async () => {
        started ??= database.setUp();
        await started;
        await database.reset();
        return { VECTOR_STORE: 'pgvector', DATABASE_URL: database.url(), DATABASE_POOL_SIZE: '4' };
      },
    },
  ];
}
