import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import pg from 'pg';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { imageNodeLane } from '../support/lanes.js';
import { pgvectorBackend } from '../support/store-backends.js';
import { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * LangChain JS users reach for @langchain/community's PGVectorStore: pointed at the table the
 * service writes (no copy, no schema of its own), it finds what the service's /v1/search finds.
 */

const DIMENSIONS = 128;
const TOPICS = ['rivers', 'mountains', 'deserts', 'forests', 'oceans', 'glaciers'];
const CORPUS = [
  ...EXAMPLE_DOCUMENTS,
  ...Array.from({ length: 60 }, (_, index) => `Field note ${index} on ${TOPICS[index % TOPICS.length]}: sample ${index * 7} taken near site ${index % 9}.`),
];

interface Hit {
  id: string;
  text: string;
  score: number;
}

describe('LangChain PGVectorStore on the service\'s table', imageNodeLane, () => {
  const database = pgvectorBackend();
  let test: TestApp;
  let pool: pg.Pool;
  const langchain = (tableName: string) =>
    new PGVectorStore(new LexicalEmbeddings(DIMENSIONS), {
      pool,
      tableName,
      columns: { idColumnName: 'document_id', contentColumnName: 'content', metadataColumnName: 'metadata', vectorColumnName: 'embedding' },
      distanceStrategy: 'cosine',
    });
  const serviceSearch = async (body: object): Promise<Hit[]> => {
    const response = await test.app.inject({ method: 'POST', url: '/v1/search', payload: body });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().results.map(({ id, text, score }: Hit) => ({ id, text, score }));
  };
  const langchainSearch = async (store: PGVectorStore, query: string, k: number, filter?: PGVectorStore["FilterType"]): Promise<Hit[]> =>
    (await store.similaritySearchWithScore(query, k, filter)).map(([document, distance]) => ({
      id: document.id as string,
      text: document.pageContent,
      score: 1 - distance,
    }));
  /** The same scores, and the same hits above the last score (hits tied with the last one may differ: either is a right answer). */
  const assertSameHits = (actual: Hit[], expected: Hit[]) => {
    assert.equal(actual.length, expected.length);
    actual.forEach((hit, index) => assert.ok(Math.abs(hit.score - (expected[index] as Hit).score) < 1e-6, `score of hit ${index}`));
    const last = (expected.at(-1) as Hit).score;
    // Ordered by score, ties by id: equal scores may come back in either order.
    const above = (hits: Hit[]) =>
      hits
        .filter((hit) => hit.score > last + 1e-6)
        .sort((a, b) => Math.round((b.score - a.score) * 1e6) || a.id.localeCompare(b.id))
        .map(({ id, text }) => ({ id, text }));
    assert.deepEqual(above(actual), above(expected));
    assert.ok(above(expected).length > 0, 'the query separates some hits from the rest');
  };

  before(async () => {
    await database.setUp();
    test = await startTestApp({ VECTOR_STORE: 'pgvector', DATABASE_URL: database.url(), LOCAL_EMBEDDINGS_DIMENSIONS: String(DIMENSIONS) });
    const ingest = (collection: string, texts: string[]) =>
      test.app.inject({
        method: 'POST',
        url: '/v1/documents',
        payload: { collection, documents: texts.map((text, index) => ({ id: `${collection}-${index}`, text, metadata: { index, even: index % 2 === 0 } })) },
      });
    assert.equal((await ingest('default', CORPUS)).statusCode, 201);
    assert.equal((await ingest('other', ['Field note on rivers from another collection.'])).statusCode, 201);
    pool = new pg.Pool({ connectionString: database.url(), max: 2 });
    // PGVectorStore searches a whole table; a view keeps it to one collection (the index still serves it).
    await pool.query("CREATE VIEW rag_chunks_default AS SELECT * FROM rag_chunks WHERE collection = 'default'");
  });
  after(async () => {
    await pool.end();
    await test.close();
    await database.tearDown();
  });

  it('returns the same top hits, texts and cosine scores as /v1/search', async () => {
    const store = langchain('rag_chunks_default');
    for (const query of [...EXAMPLE_QUERIES, 'field note on glaciers near site 4', 'samples from the deserts']) {
      const expected = await serviceSearch({ query, k: 10 });
      assert.equal(expected.length, 10);
      assertSameHits(await langchainSearch(store, query, 10), expected);
    }
  });

  it('applies a metadata filter as the service does, for the equality PGVectorStore understands', async () => {
    const store = langchain('rag_chunks_default');
    const expected = await serviceSearch({ query: 'field note on forests', k: 5, filter: { even: true } });
    assert.ok(expected.every((hit) => Number(hit.id.split('-')[1]) % 2 === 0));
    assertSameHits(await langchainSearch(store, 'field note on forests', 5, { even: true }), expected);
  });

  it('sees every collection through the table itself, which is what the view is for', async () => {
    const hits = await langchainSearch(langchain('rag_chunks'), 'Field note on rivers from another collection.', 1);
    assert.deepEqual(hits.map((hit) => hit.id), ['other-0']);
    const scoped = await langchainSearch(langchain('rag_chunks_default'), 'Field note on rivers from another collection.', 1);
    assert.ok(scoped[0]?.id.startsWith('default-'));
  });
});
