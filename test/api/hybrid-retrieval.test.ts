import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serviceBackends } from '../support/service-backends.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Retrieval modes through the API, on both stores: an exact identifier that the (lexical, offline)
 * vector search buries is found by keyword and hybrid search; fusion is deterministic and follows
 * its weights; filters, min_score, collections and deletes hold in every mode.
 */

const TARGET = {
  id: 'target',
  text:
    'Maintenance log ZX-4417. Torque the housing bolts to twelve newton metres, check the gasket for cracks, ' +
    'record the inlet temperature, inspect the flange, clean the strainer, and sign the inspection sheet before leaving the site.',
  metadata: { kind: 'log' },
};
const DISTRACTORS = Array.from({ length: 14 }, (_, index) => ({
  id: `distractor-${String(index).padStart(2, '0')}`,
  text: `Replacing pumps and seals ${index}: replacements of pumping seals, sealed pumps replaced.`,
  metadata: { kind: 'guide' },
}));
const QUERY = 'replace pump seal ZX-4417';

type Hit = { id: string; score: number; matched: string[]; ranks: Record<string, number>; scores: Record<string, number> };

for (const backend of serviceBackends()) {
  describe(`retrieval modes (${backend.name} store)`, () => {
    let test: TestApp;
    const post = (url: string, body: unknown) => test.app.inject({ method: 'POST', url, payload: body as object });
    const search = async (body: Record<string, unknown>): Promise<Hit[]> => {
      const response = await post('/v1/search', body);
      assert.equal(response.statusCode, 200, response.body);
      return response.json().results as Hit[];
    };
    const ids = (hits: Hit[]) => hits.map((hit) => hit.id);

    before(async () => {
      test = await startTestApp(await backend.prepare());
      const created = await post('/v1/documents', { documents: [...DISTRACTORS, TARGET] });
      assert.equal(created.statusCode, 201, created.body);
      await post('/v1/documents', { collection: 'other', documents: [{ id: 'elsewhere', text: 'ZX-4417 in another collection.' }] });
    });
    after(() => test.close());

    it('finds an exact identifier that vector search ranks below 10 in the hybrid top 3', async () => {
      const vector = await search({ query: QUERY, k: 15, retrieval: { mode: 'vector' } });
      const vectorRank = ids(vector).indexOf('target') + 1;
      assert.ok(vectorRank === 0 || vectorRank > 10, `vector search ranks the identifier ${vectorRank}: the case is not hard enough`);
      const keyword = await search({ query: QUERY, k: 3, retrieval: { mode: 'keyword' } });
      assert.equal(keyword[0]?.id, 'target');
      assert.deepEqual(keyword[0]?.matched, ['keyword']);
      assert.equal(keyword[0]?.ranks.keyword, 1);
      const hybrid = await search({ query: QUERY, k: 3, retrieval: { mode: 'hybrid' } });
      assert.ok(ids(hybrid).includes('target'), JSON.stringify(ids(hybrid)));
      const target = hybrid.find((hit) => hit.id === 'target') as Hit;
      assert.equal(target.ranks.keyword, 1);
      assert.ok(target.matched.includes('keyword'));
      assert.ok(hybrid.every((hit) => hit.score > 0 && hit.score <= 1), 'fused scores are normalised to 0..1');
      assert.ok(!ids(hybrid).includes('elsewhere'), 'only the requested collection');
    });

    it('fuses deterministically, by the weighted reciprocal rank formula', async () => {
      const body = { query: QUERY, k: 10, retrieval: { mode: 'hybrid', rrf_k: 10, weights: { vector: 2, keyword: 1 } } };
      const first = await search(body);
      assert.deepEqual(await search(body), first);
      for (const hit of first) {
        const expected = ((hit.ranks.vector ? 2 / (10 + hit.ranks.vector) : 0) + (hit.ranks.keyword ? 1 / (10 + hit.ranks.keyword) : 0)) / (3 / 11);
        assert.ok(Math.abs(hit.score - expected) < 1e-12, `${hit.id}: ${hit.score} is not ${expected}`);
        assert.deepEqual(hit.matched, (['vector', 'keyword'] as const).filter((list) => hit.ranks[list] !== undefined));
      }
      const vectorOnly = await search({ query: QUERY, k: 10, retrieval: { mode: 'hybrid', weights: { keyword: 0 } } });
      // As deep as hybrid search's vector list (RETRIEVAL_CANDIDATES): near-equal distractors tie, and pgvector orders ties by plan.
      const vector = await search({ query: QUERY, k: 50, retrieval: { mode: 'vector' } });
      assert.deepEqual(ids(vectorOnly), ids(vector).slice(0, 10), 'a keyword weight of 0 leaves the vector order');
    });

    it('applies filters and min_score in every mode, min_score on the mode\'s own score', async () => {
      for (const mode of ['vector', 'keyword', 'hybrid']) {
        const filtered = await search({ query: QUERY, k: 20, filter: { kind: 'log' }, retrieval: { mode } });
        assert.deepEqual(ids(filtered), ['target'], mode);
        const all = await search({ query: QUERY, k: 20, retrieval: { mode } });
        const floor = (all[Math.floor(all.length / 2)] as Hit).score;
        const floored = await search({ query: QUERY, k: 20, min_score: floor, retrieval: { mode } });
        assert.deepEqual(floored, all.filter((hit) => hit.score >= floor), mode);
      }
      const keyword = await search({ query: QUERY, k: 20, retrieval: { mode: 'keyword' } });
      assert.ok((keyword[0] as Hit).score > 1, 'BM25 scores are not bounded by 1, and min_score may go above 1');
      assert.deepEqual(await search({ query: QUERY, min_score: 1000, retrieval: { mode: 'keyword' } }), []);
    });

    it('answers from keyword retrieval and refuses hybrid weights that are all 0', async () => {
      const asked = await post('/v1/ask', { question: 'What is ZX-4417?', k: 2, retrieval: { mode: 'keyword' } });
      assert.equal(asked.statusCode, 200, asked.body);
      assert.equal(asked.json().sources[0].id, 'target');
      assert.deepEqual(asked.json().sources[0].matched, ['keyword']);
      const zero = await post('/v1/search', { query: QUERY, retrieval: { mode: 'hybrid', weights: { vector: 0, keyword: 0 } } });
      assert.equal(zero.statusCode, 400);
      assert.match(zero.json().detail, /retrieval\.weights/);
      const unknown = await post('/v1/search', { query: QUERY, retrieval: { mode: 'sparse' } });
      assert.equal(unknown.statusCode, 400);
      assert.equal(unknown.headers['content-type'], 'application/problem+json; charset=utf-8');
    });

    it('forgets a deleted document in every mode', async () => {
      assert.equal((await test.app.inject({ method: 'DELETE', url: '/v1/documents/target' })).statusCode, 204);
      for (const mode of ['vector', 'keyword', 'hybrid']) {
        assert.ok(!ids(await search({ query: QUERY, k: 100, retrieval: { mode } })).includes('target'), mode);
      }
      assert.deepEqual(await search({ query: 'ZX-4417', retrieval: { mode: 'keyword' } }), []);
    });
  });
}
