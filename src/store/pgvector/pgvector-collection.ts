import type pg from 'pg';
import { chunkHash } from '../content-hash.js';
import type { Metadata } from '../metadata-filter.js';
import type { StoredDocument } from '../mutation-codec.js';
import type {
  ChunkHit,
  ChunkVector,
  DocumentWrite,
  SearchOptions,
  StoreCollection,
  StoreFilter,
  UpsertResult,
  WriteStatus,
} from '../store-contract.js';
import { filterSql } from './filter-sql.js';
import { chunkTerms, insertTerms, keywordSearchQuery } from './pgvector-keywords.js';
import type { PgvectorContext } from './pgvector-store.js';

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
    const found = await this.context.transaction((client) => this.storedVectors(client, texts.map(chunkHash)));
    const vectors = new Map<string, number[]>();
    for (const text of texts) {
      const vector = found.get(chunkHash(text));
      if (vector) vectors.set(text, vector);
    }
    return vectors;
  }

  private async storedVectors(client: pg.ClientBase, hashes: string[]): Promise<Map<string, number[]>> {
    const { rows } = await client.query<{ content_sha: string; embedding: string }>(
      `SELECT DISTINCT ON (content_sha) content_sha, embedding::text AS embedding
         FROM rag_chunks WHERE collection = $1 AND content_sha = ANY($2::text[])`,
      [this.name, [...new Set(hashes)]],
    );
    return new Map(rows.map((row) => [row.content_sha, parseVector(row.embedding)]));
  }

  /**
   * The k nearest chunks by cosine distance through the HNSW index, `ef_search` at least k.
   * Iterative index scans (pgvector 0.8) keep walking the graph while the collection and
   * metadata conditions reject candidates; if they still come back short, the search is run
   * again exactly, so k matches come back whenever k matching chunks exist.
   */
  async searchVector(vector: number[], k: number, options: SearchOptions = {}): Promise<ChunkHit[]> {
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
    return rows
      .filter((row) => options.minScore === undefined || row.score >= options.minScore)
      .map((row) => ({ document: toDocument(row), chunk: row.chunk, text: row.content, score: Math.max(-1, Math.min(1, row.score)) }));
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
      await client.query('INSERT INTO rag_collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [this.name]);
      const ids = writes.map((write) => write.id);
      await lockDocuments(client, this.name, ids);
      // jsonb compares metadata by value; its text form would not keep the keys' order.
      const { rows } = await client.query<{ id: string; content_hash: string; same_metadata: boolean; chunks: number }>(
        `SELECT d.id, d.content_hash, d.metadata = u.metadata::jsonb AS same_metadata, jsonb_array_length(d.spans) AS chunks
           FROM unnest($2::text[], $3::text[]) AS u(id, metadata)
           JOIN rag_documents d ON d.collection = $1 AND d.id = u.id`,
        [this.name, ids, writes.map((write) => JSON.stringify(write.metadata))],
      );
      const current = new Map(rows.map((row) => [row.id, row]));
      const outcomes: Array<{ id: string; status: WriteStatus; chunks: number }> = [];
      const metadataUpdates: DocumentWrite[] = [];
      const puts: DocumentWrite[] = [];
      for (const write of writes) {
        const stored = current.get(write.id);
        if (stored && stored.content_hash === write.contentHash) {
          if (!stored.same_metadata) metadataUpdates.push(write);
          outcomes.push({ id: write.id, status: stored.same_metadata ? 'unchanged' : 'updated', chunks: stored.chunks });
        } else {
          puts.push(write);
          outcomes.push({ id: write.id, status: stored ? 'updated' : 'created', chunks: write.spans.length });
        }
      }
      const vectors = await this.vectorsFor(client, puts, writes);
      if (!vectors.applied) return vectors;
      const stamp = new Date().toISOString();
      await this.updateMetadata(client, metadataUpdates, stamp);
      await this.put(client, puts, vectors.chunks, stamp);
      return { applied: true, outcomes };
    });
  }

  /** Each chunk's vector, from the write or from a stored chunk of equal text; or the chunks still without one. */
  private async vectorsFor(
    client: pg.ClientBase,
    puts: DocumentWrite[],
    writes: DocumentWrite[],
  ): Promise<{ applied: true; chunks: ChunkVector[][] } | { applied: false; missing: Array<{ write: number; chunk: number }> }> {
    const wanted = puts.flatMap((write) => write.spans.filter((_, chunk) => !write.vectors[chunk]).map((span) => chunkHash(write.text.slice(...span))));
    const stored = wanted.length > 0 ? await this.storedVectors(client, wanted) : new Map<string, number[]>();
    const missing: Array<{ write: number; chunk: number }> = [];
    const chunks = puts.map((write) =>
      write.spans.map((span, chunk) => {
        const vector = write.vectors[chunk] ?? stored.get(chunkHash(write.text.slice(...span)));
        if (!vector) missing.push({ write: writes.indexOf(write), chunk });
        return vector as ChunkVector;
      }),
    );
    if (missing.length > 0) return { applied: false, missing };
    const size = chunks.flat()[0]?.length;
    if (size !== undefined) await this.context.ensureDimensions(client, size);
    for (const vector of chunks.flat()) {
      if (vector.length !== size) throw new Error(`vector has ${vector.length} dimensions, the store holds ${size}-dimensional vectors`);
    }
    return { applied: true, chunks };
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
  private async put(client: pg.ClientBase, writes: DocumentWrite[], vectors: ChunkVector[][], stamp: string): Promise<void> {
    if (writes.length === 0) return;
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
    const rows = writes.flatMap((write, position) =>
      write.spans.map((span, chunk) => {
        const content = write.text.slice(...span);
        const terms = chunkTerms(content);
        return { id: write.id, chunk, content, terms, sha: chunkHash(content), metadata: JSON.stringify(write.metadata), vector: vectorLiteral(vectors[position]?.[chunk] as ChunkVector) };
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
