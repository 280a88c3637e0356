import type pg from 'pg';
import { BM25_B, BM25_K1, SCORE_DECIMALS } from '../keyword/bm25.js';
import { queryTerms, termFrequencies } from '../keyword/tokenizer.js';

/**
 * BM25 in plain Postgres: each chunk's terms and their frequencies in rag_terms and its term
 * count in rag_chunks.term_count, written by the chunk's own transaction; the collection's chunk
 * count and total length in rag_keyword_stats, kept by statement triggers on rag_chunks (so the
 * cascades of a document or collection delete keep them right too); document frequencies are
 * counted at query time from the same index the scoring reads. Terms come from the TypeScript
 * tokenizer that the embedded store uses, and the formula is keyword/bm25.ts's, in SQL.
 */

/** Rows per INSERT into rag_terms. */
const TERM_ROWS_PER_INSERT = 20_000;

export interface ChunkTerms {
  frequencies: Map<string, number>;
  length: number;
}

export const chunkTerms = (content: string): ChunkTerms => termFrequencies(content);

/** Inserts the terms of chunks already inserted (by their rag_chunks ids). */
export async function insertTerms(client: pg.ClientBase, collection: string, chunks: Array<{ id: string; terms: ChunkTerms }>): Promise<void> {
  let terms: string[] = [];
  let ids: string[] = [];
  let tfs: number[] = [];
  const flush = async () => {
    if (terms.length === 0) return;
    await client.query(
      'INSERT INTO rag_terms (collection, term, chunk_id, tf) SELECT $1, u.term, u.chunk_id, u.tf FROM unnest($2::text[], $3::bigint[], $4::int[]) AS u(term, chunk_id, tf)',
      [collection, terms, ids, tfs],
    );
    terms = [];
    ids = [];
    tfs = [];
  };
  for (const chunk of chunks) {
    for (const [term, tf] of chunk.terms.frequencies) {
      terms.push(term);
      ids.push(chunk.id);
      tfs.push(tf);
    }
    if (terms.length >= TERM_ROWS_PER_INSERT) await flush();
  }
  await flush();
}

/** Indexes the chunks written before the keyword index existed; run once, by migration 5. */
export async function indexExistingChunks(client: pg.ClientBase): Promise<void> {
  let after = '0';
  for (;;) {
    const { rows } = await client.query<{ id: string; collection: string; content: string }>(
      'SELECT c.id::text AS id, c.collection, c.content FROM rag_chunks c WHERE c.id > $1::bigint ORDER BY c.id LIMIT 1000',
      [after],
    );
    if (rows.length === 0) break;
    const byCollection = new Map<string, Array<{ id: string; terms: ChunkTerms }>>();
    for (const row of rows) {
      const terms = chunkTerms(row.content);
      byCollection.set(row.collection, [...(byCollection.get(row.collection) ?? []), { id: row.id, terms }]);
    }
    for (const [collection, chunks] of byCollection) {
      await client.query('UPDATE rag_chunks c SET term_count = u.n FROM unnest($1::bigint[], $2::int[]) AS u(id, n) WHERE c.id = u.id', [
        chunks.map((chunk) => chunk.id),
        chunks.map((chunk) => chunk.terms.length),
      ]);
      await insertTerms(client, collection, chunks);
    }
    after = rows.at(-1)?.id as string;
  }
  await client.query(`INSERT INTO rag_keyword_stats (collection, chunks, total_length)
    SELECT collection, count(*), sum(term_count) FROM rag_chunks GROUP BY collection`);
}

/**
 * The BM25 search: `params` already holds $1 (the collection); the filter condition, on
 * `c.metadata`, was built against the same list. Scores are rounded in SQL as roundScore rounds
 * them, so the LIMIT cuts ties where the embedded store does.
 */
export function keywordSearchQuery(query: string, k: number, minScore: number | undefined, params: unknown[], condition: string, documentColumns: string): string | undefined {
  const terms = queryTerms(query);
  if (terms.length === 0) return undefined;
  const at = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const termList = at(terms);
  const k1 = at(BM25_K1);
  const b = at(BM25_B);
  const floor = at(minScore ?? null);
  const limit = at(k);
  return `
    WITH stats AS (
      SELECT chunks::float8 AS n, total_length::float8 / chunks AS avglen
        FROM rag_keyword_stats WHERE collection = $1 AND chunks > 0
    ), weights AS (
      SELECT t.term, ln(1 + (s.n - count(*) + 0.5) / (count(*) + 0.5)) AS idf
        FROM rag_terms t CROSS JOIN stats s
       WHERE t.collection = $1 AND t.term = ANY(${termList}::text[])
       GROUP BY t.term, s.n
    ), scored AS (
      SELECT t.chunk_id,
             round(sum(w.idf * t.tf * (${k1}::float8 + 1) / (t.tf + ${k1}::float8 * (1 - ${b}::float8 + ${b}::float8 * c.term_count / s.avglen)))::numeric, ${SCORE_DECIMALS}) AS score
        FROM rag_terms t
        JOIN weights w ON w.term = t.term
        JOIN rag_chunks c ON c.id = t.chunk_id
        CROSS JOIN stats s
       WHERE t.collection = $1 ${condition}
       GROUP BY t.chunk_id
    )
    SELECT c.chunk, c.content, sc.score::float8 AS score, ${documentColumns}
      FROM scored sc
      JOIN rag_chunks c ON c.id = sc.chunk_id
      JOIN rag_documents d ON d.collection = c.collection AND d.id = c.document_id
     WHERE ${floor}::float8 IS NULL OR sc.score >= ${floor}::float8
     ORDER BY sc.score DESC, c.document_id, c.chunk
     LIMIT ${limit}`;
}

/** Migration 5: the keyword index's tables and the triggers that keep the collection totals. */
export const KEYWORD_MIGRATION_SQL = `
  ALTER TABLE rag_chunks ADD COLUMN term_count integer NOT NULL DEFAULT 0;
  -- One row per distinct term of a chunk; the primary key is the postings list of (collection, term).
  CREATE TABLE rag_terms (
    collection text COLLATE "C" NOT NULL,
    term text COLLATE "C" NOT NULL,
    chunk_id bigint NOT NULL REFERENCES rag_chunks (id) ON DELETE CASCADE,
    tf integer NOT NULL,
    PRIMARY KEY (collection, term, chunk_id)
  );
  CREATE INDEX rag_terms_by_chunk ON rag_terms (chunk_id);
  CREATE TABLE rag_keyword_stats (
    collection text COLLATE "C" PRIMARY KEY,
    chunks bigint NOT NULL,
    total_length bigint NOT NULL
  );
  CREATE OR REPLACE FUNCTION rag_keyword_stats_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO rag_keyword_stats AS s (collection, chunks, total_length)
        SELECT collection, count(*), sum(term_count) FROM added GROUP BY collection
        ON CONFLICT (collection) DO UPDATE
          SET chunks = s.chunks + EXCLUDED.chunks, total_length = s.total_length + EXCLUDED.total_length;
      RETURN NULL;
    END $$;
  CREATE OR REPLACE FUNCTION rag_keyword_stats_remove() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE rag_keyword_stats s SET chunks = s.chunks - r.chunks, total_length = s.total_length - r.total_length
        FROM (SELECT collection, count(*) AS chunks, sum(term_count) AS total_length FROM removed GROUP BY collection) AS r
       WHERE s.collection = r.collection;
      DELETE FROM rag_keyword_stats WHERE chunks <= 0;
      RETURN NULL;
    END $$;
  CREATE TRIGGER rag_chunks_keyword_add AFTER INSERT ON rag_chunks
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION rag_keyword_stats_add();
  CREATE TRIGGER rag_chunks_keyword_remove AFTER DELETE ON rag_chunks
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION rag_keyword_stats_remove();
`;
