import type pg from 'pg';
import { chunkHash } from '../content-hash.js';
import type { Metadata } from '../metadata-filter.js';
import type {
  ChunkHit,
  ChunkVector,
  DocumentWrite,
  SearchOptions,
  StoreCollection,
  StoreFilter,
  StoredDocument,
  UpsertResult,
} from '../store-contract.js';
import { finishHits } from '../semantics/search-results.js';
import { CollectionDroppedError } from '../semantics/store-errors.js';
import { planUpsert } from '../semantics/upsert-plan.js';
import { checkQueryVector } from '../semantics/vector-check.js';
import { filterSql } from './filter-sql.js';
import { chunkTerms, insertTerms, keywordSearchQuery } from './pgvector-keywords.js';
import type { PgvectorContext } from './pgvector-context.js';

/** pgvector's `hnsw.ef_search` bound. */
const MAX_EF_SEARCH = 1000;
/** Rows per INSERT when writing chunks, to keep statements (about 10 KB per 1024-dimensional vector as text) moderate. */
const CHUNK_ROWS_PER_INSERT = 256;

const vectorLiteral = (vector: ChunkVector) => `[${vector.join(',')}]`;
const parseVector = (text: string) => JSON.parse(text) as number[];

interface DocumentRow {
  id: string;
  text: string;
  metadata: Metadata;
  content_hash: string;
  spans: Array<[number, number]>;
  created_at: Date;
  updated_at: Date;
}

const DOCUMENT_COLUMNS = 'd.id, d.text, d.metadata, d.content_hash, d.spans, d.created_at, d.updated_at';

const toDocument = (row: DocumentRow): StoredDocument => ({
  id: row.id,
  text: row.text,
  metadata: row.metadata,
  contentHash: row.content_hash,
  spans: row.spans,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/**
 * Takes transaction-scoped advisory locks on these documents, in one global order so two writers
 * cannot deadlock: writers of the same id, on any replica, take turns.
 */
async function lockDocuments(client: pg.ClientBase, collection: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query(
    `SELECT pg_advisory_xact_lock(key) FROM (
       SELECT DISTINCT hashtextextended(id, hashtext($1)) AS key FROM unnest($2::text[]) AS id ORDER BY key
     ) AS keys`,
    [collection, ids],
  );
}

/** One collection's documents and chunks in Postgres; a light handle, created per call. */
export class PgvectorCollection implements StoreCollection {
  constructor(
    readonly name: string,
    /**
     * The transaction that created the collection's row (its `xmin`): a collection dropped and
     * created again under the same name is another collection, which this handle does not write to.
     */
    private readonly generation: string,
    private readonly context: PgvectorContext,
  ) {}

  async hasChunks(): Promise<boolean> {
    const { rows } = await this.context.transaction((client) =>
      client.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM rag_chunks WHERE collection = $1) AS found', [this.name]),
    );
    return rows[0]?.found === true;
  }

  async getDocument(id: string): Promise<StoredDocument | undefined> {
    const { rows } = await this.context.transaction((client) =>
      client.query<DocumentRow>(`SELECT ${DOCUMENT_COLUMNS} FROM rag_documents d WHERE d.collection = $1 AND d.id = $2`, [this.name, id]),
    );
    return rows[0] && toDocument(rows[0]);
  }

  async contentHashes(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.context.transaction((client) =>
      client.query<{ id: string; content_hash: string }>(
        'SELECT id, content_hash FROM rag_documents WHERE collection = $1 AND id = ANY($2::text[])',
        [this.name, ids],
      ),
    );
    return new Map(rows.map((row) => [row.id, row.content_hash]));
  }

  async listDocuments(limit: number, after?: string): Promise<{ documents: StoredDocument[]; next: string | undefined }> {
    const { rows } = await this.context.transaction((client) =>
      client.query<DocumentRow>(
        `SELECT ${DOCUMENT_COLUMNS} FROM rag_documents d
          WHERE d.collection = $1 AND ($2::text IS NULL OR d.id > $2::text) ORDER BY d.id LIMIT $3`,
        [this.name, after ?? null, limit + 1],
      ),
    );
    const documents = rows.slice(0, limit).map(toDocument);
    return { documents, next: rows.length > limit ? documents.at(-1)?.id : undefined };
  }

  async reusableVectors(texts: string[]): Promise<Map<string, number[]>> {
    if (texts.length === 0) return new Map();
    return this.context.transaction((client) => this.vectorsByText(client, texts));
  }

  /** Stored vectors of chunks with exactly these texts, by text (chunks are found by the hash of their text). */
  private async vectorsByText(client: pg.ClientBase, texts: string[]): Promise<Map<string, number[]>> {
    const { rows } = await client.query<{ content_sha: string; embedding: string }>(
      `SELECT DISTINCT ON (content_sha) content_sha, embedding::text AS embedding
         FROM rag_chunks WHERE collection = $1 AND content_sha = ANY($2::text[])`,
      [this.name, [...new Set(texts.map(chunkHash))]],
    );
    const found = new Map(rows.map((row) => [row.content_sha, parseVector(row.embedding)]));
    const vectors = new Map<string, number[]>();
    for (const text of texts) {
      const vector = found.get(chunkHash(text));
      if (vector) vectors.set(text, vector);
    }
    return vectors;
  }

  /**
   * Holds the collection's row until the transaction ends, so a drop waits for this write, and a
   * write after a drop is refused instead of bringing the collection back or writing into a new
   * collection of the same name, as the embedded store refuses it.
   */
  private async lockCollection(client: pg.ClientBase): Promise<void> {
    const { rowCount } = await client.query('SELECT 1 FROM rag_collections WHERE name = $1 AND xmin = $2::xid FOR KEY SHARE', [this.name, this.generation]);
    if (!rowCount) throw new CollectionDroppedError(this.name);
  }

  /**
   * The k nearest chunks by cosine distance through the HNSW index, `ef_search` at least k.
   * Iterative index scans (pgvector 0.8) keep walking the graph while the collection and
   * metadata conditions reject candidates; if they still come back short, the search is run
   * again exactly, so k matches come back whenever k matching chunks exist.
   */
  async searchVector(vector: number[], k: number, options: SearchOptions = {}): Promise<ChunkHit[]> {
    checkQueryVector(vector, this.context.dimensions());
    if (k <= 0) return [];
    const params: unknown[] = [vectorLiteral(vector), this.name, k];
    const condition = options.filter ? `AND ${filterSql(options.filter.filter, 'c.metadata', params)}` : '';
    const query = `
      SELECT c.chunk, c.content, 1 - c.distance AS score, ${DOCUMENT_COLUMNS}
        FROM (SELECT c.collection, c.document_id, c.chunk, c.content, c.embedding <=> $1::vector AS distance
                FROM rag_chunks c
               WHERE c.collection = $2 ${condition}
               ORDER BY c.embedding <=> $1::vector
               LIMIT $3) AS c
        JOIN rag_documents d ON d.collection = c.collection AND d.id = c.document_id
       ORDER BY c.distance`;
    const efSearch = String(Math.min(MAX_EF_SEARCH, Math.max(this.context.efSearch, k)));
    const rows = await this.context.transaction(async (client) => {
      await client.query(`SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true)`, [efSearch]);
      const found = await client.query<DocumentRow & { chunk: number; content: string; score: number }>(query, params);
      if (found.rows.length >= k) return found.rows;
      await client.query(`SELECT set_config('enable_indexscan', 'off', true)`);
      return (await client.query<DocumentRow & { chunk: number; content: string; score: number }>(query, params)).rows;
    });
    return finishHits(
      rows.map((row) => ({ document: toDocument(row), chunk: row.chunk, text: row.content, score: row.score })),
      options.minScore,
    );
  }

  async searchKeyword(query: string, k: number, options: SearchOptions = {}): Promise<ChunkHit[]> {
    if (k <= 0) return [];
    const params: unknown[] = [this.name];
    const condition = options.filter ? `AND ${filterSql(options.filter.filter, 'c.metadata', params)}` : '';
    const sql = keywordSearchQuery(query, k, options.minScore, params, condition, DOCUMENT_COLUMNS);
    if (!sql) return [];
    const { rows } = await this.context.transaction((client) => client.query<DocumentRow & { chunk: number; content: string; score: number }>(sql, params));
    return rows.map((row) => ({ document: toDocument(row), chunk: row.chunk, text: row.content, score: row.score }));
  }

  async upsert(writes: DocumentWrite[]): Promise<UpsertResult> {
    return this.context.transaction(async (client) => {
      await this.lockCollection(client);
      await lockDocuments(client, this.name, writes.map((write) => write.id));
      const plan = await planUpsert(writes, {
        dimensions: this.context.dimensions(),
        held: async (ids) => {
          const { rows } = await client.query<{ id: string; content_hash: string; metadata: Metadata; chunks: number }>(
            `SELECT id, content_hash, metadata, jsonb_array_length(spans) AS chunks
               FROM rag_documents WHERE collection = $1 AND id = ANY($2::text[])`,
            [this.name, ids],
          );
          return new Map(rows.map((row) => [row.id, { contentHash: row.content_hash, metadata: row.metadata, chunks: row.chunks }]));
        },
        reusable: (texts) => this.vectorsByText(client, texts),
      });
      if (!plan.applied) return plan;
      if (plan.dimensions !== undefined) await this.context.ensureDimensions(client, plan.dimensions);
      const stamp = new Date().toISOString();
      await this.updateMetadata(client, plan.changes.flatMap((change) => (change.op === 'metadata' ? [change.write] : [])), stamp);
      await this.put(client, plan.changes.flatMap((change) => (change.op === 'put' ? [change] : [])), stamp);
      return { applied: true, outcomes: plan.outcomes };
    });
  }

  private async updateMetadata(client: pg.ClientBase, writes: DocumentWrite[], stamp: string): Promise<void> {
    if (writes.length === 0) return;
    const ids = writes.map((write) => write.id);
    const metadata = writes.map((write) => JSON.stringify(write.metadata));
    await client.query(
      `UPDATE rag_documents d SET metadata = u.metadata::jsonb, updated_at = $4
         FROM unnest($2::text[], $3::text[]) AS u(id, metadata) WHERE d.collection = $1 AND d.id = u.id`,
      [this.name, ids, metadata, stamp],
    );
    await client.query(
      `UPDATE rag_chunks c SET metadata = u.metadata::jsonb
         FROM unnest($2::text[], $3::text[]) AS u(id, metadata) WHERE c.collection = $1 AND c.document_id = u.id`,
      [this.name, ids, metadata],
    );
  }

  /** Replaces these documents and all their chunks. */
  private async put(client: pg.ClientBase, puts: Array<{ write: DocumentWrite; vectors: ChunkVector[] }>, stamp: string): Promise<void> {
    if (puts.length === 0) return;
    const writes = puts.map((put) => put.write);
    const ids = writes.map((write) => write.id);
    await client.query(
      `INSERT INTO rag_documents (collection, id, text, metadata, content_hash, spans, created_at, updated_at)
       SELECT $1, u.id, u.text, u.metadata::jsonb, u.content_hash, u.spans::jsonb, $7, $7
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(id, text, metadata, content_hash, spans)
       ON CONFLICT (collection, id) DO UPDATE SET
         text = EXCLUDED.text, metadata = EXCLUDED.metadata, content_hash = EXCLUDED.content_hash,
         spans = EXCLUDED.spans, updated_at = EXCLUDED.updated_at`,
      [
        this.name,
        ids,
        writes.map((write) => write.text),
        writes.map((write) => JSON.stringify(write.metadata)),
        writes.map((write) => write.contentHash),
        writes.map((write) => JSON.stringify(write.spans)),
        stamp,
      ],
    );
    await client.query('DELETE FROM rag_chunks WHERE collection = $1 AND document_id = ANY($2::text[])', [this.name, ids]);
    const rows = puts.flatMap(({ write, vectors }) =>
      write.spans.map((span, chunk) => {
        const content = write.text.slice(...span);
        const terms = chunkTerms(content);
        // As given: Postgres rounds each number to the float4 the check was made on.
        return { id: write.id, chunk, content, terms, sha: chunkHash(content), metadata: JSON.stringify(write.metadata), vector: vectorLiteral(vectors[chunk] as ChunkVector) };
      }),
    );
    for (let start = 0; start < rows.length; start += CHUNK_ROWS_PER_INSERT) {
      const batch = rows.slice(start, start + CHUNK_ROWS_PER_INSERT);
      const inserted = await client.query<{ id: string; document_id: string; chunk: number }>(
        `INSERT INTO rag_chunks (collection, document_id, chunk, content, content_sha, metadata, embedding, term_count)
         SELECT $1, u.id, u.chunk, u.content, u.sha, u.metadata::jsonb, u.vector::vector, u.term_count
           FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[]) AS u(id, chunk, content, sha, metadata, vector, term_count)
         RETURNING id::text AS id, document_id, chunk`,
        [
          this.name,
          batch.map((row) => row.id),
          batch.map((row) => row.chunk),
          batch.map((row) => row.content),
          batch.map((row) => row.sha),
          batch.map((row) => row.metadata),
          batch.map((row) => row.vector),
          batch.map((row) => row.terms.length),
        ],
      );
      const idOf = new Map(inserted.rows.map((row) => [`${row.chunk}\u0000${row.document_id}`, row.id]));
      await insertTerms(
        client,
        this.name,
        batch.map((row) => ({ id: idOf.get(`${row.chunk}\u0000${row.id}`) as string, terms: row.terms })),
      );
    }
  }

  async deleteDocuments(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.context.transaction(async (client) => {
      await this.lockCollection(client);
      await lockDocuments(client, this.name, ids);
      const { rows } = await client.query<{ id: string }>(
        'DELETE FROM rag_documents WHERE collection = $1 AND id = ANY($2::text[]) RETURNING id',
        [this.name, [...new Set(ids)]],
      );
      return rows.map((row) => row.id);
    });
  }

  async deleteWhere(filter: StoreFilter): Promise<string[]> {
    return this.context.transaction(async (client) => {
      await this.lockCollection(client);
      const params: unknown[] = [this.name];
      const condition = filterSql(filter.filter, 'd.metadata', params);
      const matching = await client.query<{ id: string }>(`SELECT d.id FROM rag_documents d WHERE d.collection = $1 AND ${condition}`, params);
      await lockDocuments(client, this.name, matching.rows.map((row) => row.id));
      const { rows } = await client.query<{ id: string }>(
        `DELETE FROM rag_documents d WHERE d.collection = $1 AND ${condition} RETURNING d.id`,
        params,
      );
      return rows.map((row) => row.id).sort();
    });
  }
}
