import pg from 'pg';
import type { Logger } from 'pino';
import {
  COLLECTION_NAME,
  type CollectionSummary,
  type DocumentStore,
  type StoreCollection,
  type StoreHealth,
  type VectorTiers,
} from '../store-contract.js';
import { checkEmbeddingSpace, fixesDimensions } from '../semantics/embedding-space.js';
import { CollectionDroppedError, EmbeddingSpaceMismatchError, StoreUnavailableError } from '../semantics/store-errors.js';
import { describe } from './database-errors.js';
import { fixDimensionsSql, migrate, SCHEMA_LOCK } from './migrations.js';
import { PgvectorCollection } from './pgvector-collection.js';
import type { PgvectorContext } from './pgvector-context.js';
import { runTransaction } from './transaction.js';

export interface PgvectorOptions {
  url: string;
  poolSize: number;
  statementTimeoutMs: number;
  hnsw: { m: number; efConstruction: number; efSearch: number };
  embeddingModel: string;
  /** Known up front for some models; otherwise fixed by the first vector stored. */
  embeddingDimensions: number | undefined;
  logger: Logger;
}

const RECONNECT_MS = { first: 500, most: 5000 };

/** Where a DATABASE_URL points, without its password, for logs and readiness. */
function where(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/**
 * Postgres with pgvector as the store: every replica on one database sees one corpus. The
 * schema is migrated at start under an advisory lock; each write is one transaction; searches
 * use an HNSW index (cosine) with `hnsw.ef_search` set per query. The service starts while the
 * database is down and connects when it comes; until then, and while it is lost, calls fail
 * with a 503 that says so and readiness says why.
 */
export class PgvectorStore implements DocumentStore {
  readonly backend = 'pgvector';
  private readonly pool: pg.Pool;
  /** As recorded in the database's manifest. */
  private fixedDimensions: number | undefined;
  private prepared: Promise<void> | undefined;
  /** Why the store is not (yet) usable; undefined once the schema and manifest are checked. */
  private notReady: string | undefined = 'connecting to the vector database';
  private mismatch: EmbeddingSpaceMismatchError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly context: PgvectorContext;

  private constructor(private readonly options: PgvectorOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'nim-rag-service',
      ...(options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    // An idle connection the server drops is reported here; without a listener it would end the process.
    this.pool.on('error', (error) => options.logger.warn({ err: error }, 'vector database connection lost'));
    this.context = {
      transaction: (work) => this.transaction(work),
      efSearch: options.hnsw.efSearch,
      dimensions: () => this.dimensions,
      ensureDimensions: (client, dimensions) => this.ensureDimensions(client, dimensions),
    };
  }

  /**
   * Opens the store. A database built with another embedding model fails the start, as the
   * embedded store does; an unreachable database does not: the store keeps trying in the background.
   */
  static async open(options: PgvectorOptions): Promise<PgvectorStore> {
    const store = new PgvectorStore(options);
    try {
      await store.prepare();
    } catch (error) {
      if (error instanceof EmbeddingSpaceMismatchError) {
        await store.pool.end();
        throw error;
      }
      store.retryPrepare(RECONNECT_MS.first);
    }
    return store;
  }

  get embeddingModel(): string {
    return this.options.embeddingModel;
  }

  get dimensions(): number | undefined {
    return this.fixedDimensions ?? this.options.embeddingDimensions;
  }

  private prepare(): Promise<void> {
    this.prepared ??= this.transaction(async (client) => {
      const applied = await migrate(client);
      await this.checkManifest(client);
      if (applied.length > 0) this.options.logger.info({ migrations: applied }, 'vector database schema migrated');
    }).then(
      () => {
        this.notReady = undefined;
        this.options.logger.info({ database: where(this.options.url), dimensions: this.fixedDimensions ?? null }, 'store: pgvector');
      },
      (error: unknown) => {
        this.prepared = undefined;
        if (error instanceof EmbeddingSpaceMismatchError) {
          this.mismatch = error;
          this.notReady = error.message;
        } else {
          this.notReady = `the vector database at ${where(this.options.url)} is unreachable: ${describe(error)}`;
        }
        throw error;
      },
    );
    return this.prepared;
  }

  private retryPrepare(delayMs: number): void {
    if (this.closed || this.mismatch) return;
    this.options.logger.warn({ retryInMs: delayMs, reason: this.notReady }, 'vector database not ready; the service starts and keeps trying');
    this.retryTimer = setTimeout(() => {
      this.prepare().catch(() => this.retryPrepare(Math.min(delayMs * 2, RECONNECT_MS.most)));
    }, delayMs);
    this.retryTimer.unref();
  }

  private async checkManifest(client: pg.ClientBase): Promise<void> {
    const { embeddingModel, embeddingDimensions } = this.options;
    const { rows } = await client.query<{ embedding_model: string; dimensions: number | null }>(
      'SELECT embedding_model, dimensions FROM rag_manifest',
    );
    const recorded = rows[0];
    if (!recorded) {
      await client.query('INSERT INTO rag_manifest (embedding_model) VALUES ($1)', [embeddingModel]);
      if (embeddingDimensions !== undefined) await this.ensureDimensions(client, embeddingDimensions);
      return;
    }
    checkEmbeddingSpace(
      { model: recorded.embedding_model, dimensions: recorded.dimensions ?? undefined },
      { model: embeddingModel, dimensions: embeddingDimensions },
      { name: `the vector database ${where(this.options.url)}`, fresh: 'point DATABASE_URL at a new database' },
    );
    this.fixedDimensions = recorded.dimensions ?? undefined;
    if (this.fixedDimensions === undefined && embeddingDimensions !== undefined) await this.ensureDimensions(client, embeddingDimensions);
  }

  private async ensureDimensions(client: pg.ClientBase, dimensions: number): Promise<void> {
    if (this.fixedDimensions === dimensions) return;
    if (this.fixedDimensions === undefined) {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      const { rows } = await client.query<{ dimensions: number | null }>('SELECT dimensions FROM rag_manifest FOR UPDATE');
      const recorded = rows[0]?.dimensions ?? null;
      if (recorded === null) {
        const { m, efConstruction } = this.options.hnsw;
        for (const statement of fixDimensionsSql(dimensions, m, efConstruction)) await client.query(statement);
        await client.query('UPDATE rag_manifest SET dimensions = $1', [dimensions]);
        this.fixedDimensions = dimensions;
        return;
      }
      this.fixedDimensions = recorded;
    }
    fixesDimensions({ model: this.options.embeddingModel, dimensions: this.fixedDimensions }, dimensions);
  }

  /**
   * Runs `work` in one transaction on one pooled connection. A transaction lost to a concurrent
   * one (serialisation failure, deadlock) runs again; an unreachable database is a 503.
   */
  private async transaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    return runTransaction(this.pool, work, (error) => this.options.logger.warn({ err: error }, 'vector database connection lost'));
  }

  /** Calls that need the schema wait for it, and fail with a 503 while the database has not been reached. */
  private async ready(): Promise<void> {
    if (this.notReady === undefined) return;
    if (this.mismatch) throw new StoreUnavailableError(this.mismatch.message, this.mismatch);
    try {
      await this.prepare();
    } catch (error) {
      throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError(this.notReady ?? describe(error), error);
    }
  }

  async collection(name: string): Promise<StoreCollection | undefined> {
    await this.ready();
    const found = await this.transaction((client) =>
      client.query<{ generation: string }>('SELECT xmin::text AS generation FROM rag_collections WHERE name = $1', [name]),
    );
    const generation = found.rows[0]?.generation;
    return generation === undefined ? undefined : new PgvectorCollection(name, generation, this.context);
  }

  async getOrCreate(name: string): Promise<StoreCollection> {
    if (!COLLECTION_NAME.test(name)) throw new Error(`invalid collection name ${name}`);
    await this.ready();
    const { generation, created } = await this.transaction(async (client) => {
      const made = await client.query<{ generation: string }>(
        'INSERT INTO rag_collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING xmin::text AS generation',
        [name],
      );
      if (made.rows[0]) return { generation: made.rows[0].generation, created: true };
      // A statement of its own: in READ COMMITTED it sees a row that a concurrent creator committed meanwhile.
      const held = await client.query<{ generation: string }>('SELECT xmin::text AS generation FROM rag_collections WHERE name = $1', [name]);
      return { generation: held.rows[0]?.generation, created: false };
    });
    if (generation === undefined) throw new CollectionDroppedError(name);
    if (created) this.options.logger.info({ collection: name }, 'collection created');
    return new PgvectorCollection(name, generation, this.context);
  }

  async list(): Promise<CollectionSummary[]> {
    await this.ready();
    const { rows } = await this.transaction((client) =>
      client.query<{ name: string; documents: string; chunks: string }>(`
        SELECT c.name,
               (SELECT count(*) FROM rag_documents d WHERE d.collection = c.name) AS documents,
               (SELECT count(*) FROM rag_chunks k WHERE k.collection = c.name) AS chunks
          FROM rag_collections c ORDER BY c.name`),
    );
    return rows.map((row) => ({ name: row.name, documents: Number(row.documents), chunks: Number(row.chunks) }));
  }

  /** Every chunk is in the HNSW index as soon as its write commits: pgvector has no exact tier. */
  async vectorTiers(name: string): Promise<VectorTiers> {
    await this.ready();
    const { rows } = await this.transaction((client) =>
      client.query<{ chunks: string }>('SELECT count(*) AS chunks FROM rag_chunks WHERE collection = $1', [name]),
    );
    return { exact: 0, graph: Number(rows[0]?.chunks ?? 0) };
  }

  async drop(name: string): Promise<boolean> {
    await this.ready();
    const dropped = await this.transaction((client) => client.query('DELETE FROM rag_collections WHERE name = $1', [name]));
    if (dropped.rowCount) this.options.logger.info({ collection: name }, 'collection dropped');
    return Boolean(dropped.rowCount);
  }

  async health(): Promise<StoreHealth> {
    if (this.notReady !== undefined) {
      this.prepare().catch(() => undefined);
      return { ready: false, detail: this.notReady };
    }
    try {
      await this.transaction((client) => client.query('SELECT 1'));
      return { ready: true };
    } catch (error) {
      return { ready: false, detail: `the vector database at ${where(this.options.url)} is unreachable: ${describe(error)}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.pool.end();
  }
}
