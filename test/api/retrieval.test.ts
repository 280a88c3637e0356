import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOCAL_ANSWERER_MODEL } from '../../src/local/extractive-answerer.js';
import { NO_CONTEXT_ANSWER } from '../../src/rag/ask-chain.js';
import { serviceBackends } from '../support/service-backends.js';
import { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES, startTestApp, type TestApp } from '../support/test-app.js';

for (const backend of serviceBackends()) {
  describe(`search and ask (offline providers, ${backend.name} store)`, () => {
    let test: TestApp;
    const post = (url: string, body: unknown) => test.app.inject({ method: 'POST', url, payload: body as object });

    before(async () => {
      test = await startTestApp(await backend.prepare());
      await post('/v1/documents', { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text, metadata: { n: index, lang: 'en' } })) });
      await post('/v1/documents', {
        collection: 'chinese',
        documents: [
          { id: 'beijing', text: '北京是中国的首都，有很多名胜古迹。', metadata: { lang: 'zh' } },
          { id: 'panda', text: '熊猫主要生活在四川的山区。', metadata: { lang: 'zh' } },
        ],
      });
    });
    after(() => test.close());

    it('retrieves the matching example document first for the example queries that share words with one', async () => {
      const expected = ['doc0', 'doc1'];
      for (const [index, query] of EXAMPLE_QUERIES.slice(0, 2).entries()) {
        const response = await post('/v1/search', { query, k: 5 });
        assert.equal(response.statusCode, 200);
        const { results } = response.json();
        assert.equal(results.length, 5);
        assert.equal(results[0].id, expected[index]);
        assert.equal(results[0].text, EXAMPLE_DOCUMENTS[index]);
        assert.deepEqual(results[0].chunk, { index: 0, start: 0, end: (EXAMPLE_DOCUMENTS[index] as string).length });
        assert.ok(results[0].score > results[1].score, 'best first, higher is closer');
        assert.ok(results[0].score <= 1 && results[4].score >= -1);
      }
    });

    it('honours k, min_score and metadata filters', async () => {
      assert.equal((await post('/v1/search', { query: 'weather', k: 2 })).json().results.length, 2);
      const strict = (await post('/v1/search', { query: 'weather Komchatka', k: 5, min_score: 0.3 })).json().results;
      assert.deepEqual(strict.map((hit: { id: string }) => hit.id), ['doc0']);
      const filtered = (await post('/v1/search', { query: 'life', k: 5, filter: { n: { $gte: 3 } } })).json().results;
      assert.deepEqual(filtered.map((hit: { id: string }) => hit.id).sort(), ['doc3', 'doc4']);
    });

    it('searches Chinese text in its own collection', async () => {
      const results = (await post('/v1/search', { query: '熊猫生活在哪里', collection: 'chinese', k: 2 })).json().results;
      assert.equal(results[0].id, 'panda');
    });

    it('answers with the offline extractive answerer, quoting the source, and says which model answered', async () => {
      const response = await post('/v1/ask', { question: EXAMPLE_QUERIES[1], k: 2 });
      assert.equal(response.statusCode, 200);
      const body = response.json();
      assert.equal(body.model, LOCAL_ANSWERER_MODEL);
      assert.equal(body.answer, `${EXAMPLE_DOCUMENTS[1]} [1]`);
      assert.equal(body.sources[0].id, 'doc1');
      assert.equal(body.sources.length, 2);
      for (const timing of ['retrieval_ms', 'generation_ms', 'total_ms']) assert.equal(typeof body.timings[timing], 'number');
    });

    it('answers from an empty collection that nothing matches, without inventing', async () => {
      const body = (await post('/v1/ask', { question: 'anything at all?', filter: { lang: 'fr' } })).json();
      assert.equal(body.answer, NO_CONTEXT_ANSWER);
      assert.deepEqual(body.sources, []);
    });

    it('lists collections with their sizes and drops one', async () => {
      const listed = (await test.app.inject({ method: 'GET', url: '/v1/collections' })).json();
      assert.deepEqual(listed.collections, [
        { name: 'chinese', documents: 2, chunks: 2 },
        { name: 'default', documents: 5, chunks: 5 },
      ]);
      await post('/v1/documents', { collection: 'scratch', documents: [{ text: 'to be dropped' }] });
      assert.equal((await test.app.inject({ method: 'DELETE', url: '/v1/collections/scratch' })).statusCode, 204);
      assert.equal((await test.app.inject({ method: 'DELETE', url: '/v1/collections/scratch' })).statusCode, 404);
      assert.equal((await post('/v1/search', { query: 'dropped', collection: 'scratch' })).statusCode, 404);
    });

    const invalid: Array<[string, string, unknown, RegExp]> = [
      ['a huge k', '/v1/search', { query: 'x', k: 1000 }, /body\/k must be <= 100/],
      ['a zero k', '/v1/search', { query: 'x', k: 0 }, /body\/k must be >= 1/],
      ['a k given as a string', '/v1/search', { query: 'x', k: '3' }, /body\/k must be integer/],
      ['a missing query', '/v1/search', { k: 3 }, /body must have required property 'query'/],
      ['an empty question', '/v1/ask', { question: '' }, /body\/question must NOT have fewer than 1 characters/],
      ['a filter that is not an object', '/v1/search', { query: 'x', filter: 'lang=en' }, /body\/filter must be object/],
      ['a malformed filter', '/v1/ask', { question: 'x', filter: { $or: 'a' } }, /invalid filter at filter\.\$or: \$or takes a non-empty array/],
      ['an unknown collection', '/v1/ask', { question: 'x', collection: 'ghost' }, /collection "ghost" does not exist/],
      ['an over-long language', '/v1/ask', { question: 'x', language: 'x'.repeat(65) }, /body\/language must NOT have more than 64 characters/],
    ];
    for (const [what, url, body, detail] of invalid) {
      it(`refuses ${what} with a clear problem`, async () => {
        const response = await post(url, body);
        assert.equal(response.statusCode, /does not exist/.test(detail.source) ? 404 : 400, response.body);
        assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
        assert.match(response.json().detail, detail);
      });
    }

    it('reports readiness with the offline providers named', async () => {
      const response = await test.app.inject({ method: 'GET', url: '/v1/health/ready' });
      assert.equal(response.statusCode, 200);
      const body = response.json();
      assert.equal(body.status, 'ready');
      assert.equal(body.offline, true);
      assert.equal(body.providers.embeddings.provider, 'local');
      assert.equal(body.providers.llm.model, LOCAL_ANSWERER_MODEL);
      assert.equal(body.store.embedding_model, 'local-lexical-v1');
      assert.deepEqual((await test.app.inject({ method: 'GET', url: '/v1/health/live' })).json(), { status: 'live' });
    });
  });
}
