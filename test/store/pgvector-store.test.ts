import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { contentHash } from '../../src/store/content-hash.js';
import { compileFilter, type MetadataFilter } from '../../src/store/metadata-filter.js';
import { filterSql } from '../../src/store/pgvector/filter-sql.js';
import type { DocumentStore, DocumentWrite } from '../../src/store/store-contract.js';
import { SCHEMA_VERSIONS } from '../../src/store/pgvector/migrations.js';
import { pgvectorBackend } from '../support/store-backends.js';

/** What only the pgvector backend has: its schema migrations, its index, and SQL built from filters. */

const embedder = new LexicalEmbeddings(128);
const write = (id: string, text: string, metadata: Record<string, unknown> = {}): DocumentWrite => ({
  id,
  text,
  metadata,
  contentHash: contentHash(text, 'whole'),
  spans: [[0, text.length]],
  vectors: [embedder.embed(text)],
});

describe('pgvector backend', () => {
  const backend = pgvectorBackend();
  const opened: DocumentStore[] = [];
  let client: pg.Client;

  before(async () => {
    await backend.setUp();
    client = new pg.Client(backend.url());
    await client.connect();
  });
  after(async () => {
    await client.end();
    await backend.tearDown();
  });
  beforeEach(() => backend.reset());
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it('migrates once when several replicas start together, and again finds nothing to do', async () => {
    opened.push(...(await Promise.all([backend.open(), backend.open(), backend.open()])));
    opened.push(await backend.open());
    const { rows } = await client.query<{ version: number }>('SELECT version FROM rag_schema_migrations ORDER BY version');
    assert.deepEqual(rows.map((row) => row.version), SCHEMA_VERSIONS);
    const manifest = await client.query('SELECT embedding_model, dimensions FROM rag_manifest');
    assert.deepEqual(manifest.rows, [{ embedding_model: 'local-lexical-v1', dimensions: 128 }]);
    const index = await client.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'rag_chunks_embedding'");
    assert.match(index.rows[0]?.indexdef ?? '', /USING hnsw \(embedding vector_cosine_ops\) WITH \(m='16', ef_construction='100'\)/);
  });

  it('can answer its search through the HNSW index (the planner scans a table this small instead)', async () => {
    const store = await backend.open();
    opened.push(store);
    const collection = await store.getOrCreate('default');
    await collection.upsert(Array.from({ length: 300 }, (_, index) => write(`d${index}`, `document number ${index}`)));
    await client.query('ANALYZE rag_chunks');
    const vector = `[${embedder.embed('document').join(',')}]`;
    await client.query('BEGIN');
    try {
      await client.query("SET LOCAL hnsw.iterative_scan = 'strict_order'");
      // At 300 rows sorting them all costs less than a graph walk; the graph's order is what is under test.
      await client.query('SET LOCAL enable_sort = off');
      const plan = await client.query<{ 'QUERY PLAN': string }>(
        "EXPLAIN SELECT id FROM rag_chunks c WHERE c.collection = 'default' ORDER BY c.embedding <=> $1::vector LIMIT 10",
        [vector],
      );
      assert.match(plan.rows.map((row) => row['QUERY PLAN']).join('\n'), /Index Scan using rag_chunks_embedding/);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('passes every filter value as a parameter, so a hostile field name or value is only data', async () => {
    const hostile = "x'); DROP TABLE rag_chunks; --";
    const filter: MetadataFilter = { [hostile]: hostile, $or: [{ n: { $gte: 3 } }, { tag: { $in: [hostile, 'b'] } }] };
    const params: unknown[] = [];
    const sql = filterSql(filter, 'c.metadata', params);
    assert.ok(!sql.includes('DROP') && !sql.includes("'b'"), sql);
    assert.ok(params.some((param) => JSON.stringify(param).includes('DROP')));
    const store = await backend.open();
    opened.push(store);
    const collection = await store.getOrCreate('default');
    await collection.upsert([write('safe', 'a document', { [hostile]: hostile, tag: 'b' })]);
    const hits = await collection.searchVector(embedder.embed('document'), 5, { filter: { filter, matches: compileFilter(filter) } });
    assert.deepEqual(hits.map((hit) => hit.document.id), ['safe']);
    assert.equal((await client.query('SELECT count(*)::int AS n FROM rag_chunks')).rows[0].n, 1, 'rag_chunks is still there');
  });
});
