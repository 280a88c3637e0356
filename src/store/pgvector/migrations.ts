import type { ClientBase } from 'pg';
import { indexExistingChunks, KEYWORD_MIGRATION_SQL } from './pgvector-keywords.js';

/** Taken by every replica around schema changes, so replicas starting at once migrate one at a time. */
export const SCHEMA_LOCK = 0x5241_4753; // "RAGS"

interface Migration {
  version: number;
  name: string;
  sql: string;
  /** Work SQL alone cannot do (tokenizing text in TypeScript), run after \`sql\` in the same transaction. */
  backfill?: (client: ClientBase) => Promise<void>;
}

/**
 * The schema, in order; a released migration is never edited, a change is a new one. The
 * vector column gets its size (and its HNSW index) once the embedding dimensions are known:
 * see fixDimensionsSql.
 */
const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'collections, documents and chunks',
    sql: `
      CREATE EXTENSION IF NOT EXISTS vector;
      CREATE TABLE rag_manifest (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        embedding_model text NOT NULL,
        dimensions integer,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE rag_collections (
        name text COLLATE "C" PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE rag_documents (
        collection text COLLATE "C" NOT NULL REFERENCES rag_collections (name) ON DELETE CASCADE,
        id text COLLATE "C" NOT NULL,
        text text NOT NULL,
        metadata jsonb NOT NULL,
        content_hash text NOT NULL,
        spans jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (collection, id)
      );
      -- One row per chunk, readable by LangChain's PGVectorStore: content, metadata, embedding.
      CREATE TABLE rag_chunks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        collection text COLLATE "C" NOT NULL,
        document_id text COLLATE "C" NOT NULL,
        chunk integer NOT NULL,
        content text NOT NULL,
        content_sha text NOT NULL,
        metadata jsonb NOT NULL,
        embedding vector NOT NULL,
        FOREIGN KEY (collection, document_id) REFERENCES rag_documents (collection, id) ON DELETE CASCADE,
        UNIQUE (collection, document_id, chunk)
      );
      CREATE INDEX rag_chunks_by_content ON rag_chunks (collection, content_sha);
      CREATE FUNCTION rag_metadata_at(doc jsonb, path text[]) RETURNS jsonb
        LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
        DECLARE
          key text;
        BEGIN
          FOREACH key IN ARRAY path LOOP
            IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
              RETURN NULL;
            END IF;
            doc := doc -> key;
          END LOOP;
          RETURN doc;
        END $$;
      CREATE FUNCTION rag_metadata_values(value jsonb) RETURNS SETOF jsonb
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
          SELECT element FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(value) = 'array' THEN value ELSE jsonb_build_array(value) END) AS element
        $$;
    `,
  },
  {
    version: 3,
    name: 'background jobs, their leases and staged payloads',
    sql: `
      -- One row per background job. The record is the job as GET /v1/jobs/{id} shows it, each
      -- file's progress included (json rather than jsonb: kept as written, whatever characters
      -- its metadata holds); the columns beside it are what claims, cancels and pruning select on.
      CREATE TABLE rag_jobs (
        id uuid PRIMARY KEY,
        state text NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
        record json NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        -- The replica running it holds the lease while it renews it; past lease_expires_at any replica may claim it.
        lease_token uuid,
        lease_owner text,
        lease_expires_at timestamptz,
        claims integer NOT NULL DEFAULT 0
      );
      CREATE INDEX rag_jobs_unfinished ON rag_jobs (created_at) WHERE state IN ('queued', 'running');
      CREATE INDEX rag_jobs_finished ON rag_jobs (finished_at) WHERE finished_at IS NOT NULL;
      -- What a job needs to run, in parts: each staged file's bytes (by its path) or a documents job's documents.
      CREATE TABLE rag_job_parts (
        job_id uuid NOT NULL REFERENCES rag_jobs (id) ON DELETE CASCADE,
        name text NOT NULL,
        part integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (job_id, name, part)
      );
    `,
  },
  {
    version: 4,
    name: 'stored conversations and their turns',
    sql: `
      -- One row per stored conversation; owner is the SHA-256 of the API key that created it (null without keys).
      CREATE TABLE rag_conversations (
        id text COLLATE "C" PRIMARY KEY,
        collection text COLLATE "C" NOT NULL,
        owner text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX rag_conversations_by_update ON rag_conversations (updated_at);
      -- Each completed answer, in order, with the sources it cited (json: kept as written).
      CREATE TABLE rag_conversation_turns (
        conversation_id text COLLATE "C" NOT NULL REFERENCES rag_conversations (id) ON DELETE CASCADE,
        position integer NOT NULL,
        question text NOT NULL,
        standalone_query text NOT NULL,
        answer text NOT NULL,
        sources json NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (conversation_id, position)
      );
    `,
  },
  {
    version: 5,
    name: 'keyword index: BM25 terms and collection totals',
    sql: KEYWORD_MIGRATION_SQL,
    backfill: indexExistingChunks,
  },
];

/** The schema versions this build knows, in order. */
export const SCHEMA_VERSIONS: readonly number[] = MIGRATIONS.map((migration) => migration.version);

/** Applies the migrations this database lacks, in one transaction under the schema lock; the caller holds the transaction open. */
export async function migrate(client: ClientBase): Promise<number[]> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
  await client.query(`CREATE TABLE IF NOT EXISTS rag_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const { rows } = await client.query<{ version: number }>('SELECT version FROM rag_schema_migrations');
  const applied = new Set(rows.map((row) => row.version));
  const done: number[] = [];
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    await client.query(migration.sql);
    await migration.backfill?.(client);
    await client.query('INSERT INTO rag_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    done.push(migration.version);
  }
  return done;
}

/**
 * Gives the vector column its size and builds the HNSW index (cosine distance) on it; run once,
 * under the schema lock, when the embedding dimensions become known. `m` and `ef_construction`
 * are whole numbers checked by the configuration.
 */
export function fixDimensionsSql(dimensions: number, m: number, efConstruction: number): string[] {
  const whole = (value: number) => {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`not a positive whole number: ${value}`);
    return value;
  };
  return [
    `ALTER TABLE rag_chunks ALTER COLUMN embedding TYPE vector(${whole(dimensions)})`,
    `CREATE INDEX rag_chunks_embedding ON rag_chunks USING hnsw (embedding vector_cosine_ops) WITH (m = ${whole(m)}, ef_construction = ${whole(efConstruction)})`,
  ];
}
