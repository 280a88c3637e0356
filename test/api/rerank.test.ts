import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { EMBED_MODEL, LLM_MODEL, NimEmulator, RERANK_MODEL } from '../support/nim-emulator.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

describe('the optional rerank stage between retrieval and the prompt (emulated reranking NIM)', () => {
  let nim: NimEmulator;
  let test: TestApp;

  const post = async (url: string, payload: Record<string, unknown>) => {
    const response = await test.app.inject({ method: 'POST', url, payload });
    return { status: response.statusCode, body: response.json<any>() };
  };

  before(async () => {
    nim = await NimEmulator.start({ models: [EMBED_MODEL, LLM_MODEL, RERANK_MODEL] });
    test = await startTestApp({
      NIM_EMBEDDINGS_URL: nim.url,
      NIM_EMBEDDINGS_MODEL: EMBED_MODEL,
      NIM_LLM_URL: nim.url,
      NIM_LLM_MODEL: LLM_MODEL,
      NIM_RERANK_URL: nim.url,
      RERANK_MODEL: RERANK_MODEL,
      RERANK_CANDIDATES: '4',
    });
    const documents = EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc-${index}`, text }));
    assert.equal((await post('/v1/documents', { documents })).status, 201);
  });
  after(async () => {
    await test.close();
    await nim.stop();
  });
  beforeEach(() => nim.reset());

  it('retrieves RERANK_CANDIDATES chunks, has the reranker order them, keeps k, and times it', async () => {
    const question = 'What kinds of food is Italy known for?';
    // The reranker puts the retrieved chunk at position 3 first, whatever the vector search thought.
    nim.failNext({ path: '/v1/ranking', status: 200, body: { rankings: [3, 0, 1, 2].map((index, rank) => ({ index, logit: 5 - rank })) } });
    const { status, body } = await post('/v1/ask', { question, k: 2 });
    assert.equal(status, 200);
    const [ranking] = nim.requestsTo('/v1/ranking');
    assert.equal(ranking?.body.model, RERANK_MODEL);
    assert.equal(ranking?.body.query.text, question);
    const candidates: string[] = ranking?.body.passages.map((passage: { text: string }) => passage.text);
    assert.equal(candidates.length, 4);
    assert.deepEqual(
      body.sources.map((source: { text: string }) => source.text),
      [candidates[3], candidates[0]],
    );
    assert.equal(typeof body.timings.rerank_ms, 'number');
    assert.ok(body.timings.rerank_ms <= body.timings.retrieval_ms);
  });

  it('reranks searches too, keeping the best k of the reranker', async () => {
    const { status, body } = await post('/v1/search', { query: 'pasta and pizza in Italy', k: 1 });
    assert.equal(status, 200);
    assert.equal(nim.requestsTo('/v1/ranking').length, 1);
    assert.deepEqual(body.results.map((hit: { id: string }) => hit.id), ['doc-1']);
  });

  it('reranks the fused candidates of a hybrid search, which keep the lists that found them', async () => {
    const query = 'pasta and pizza in Italy';
    const fused = (await post('/v1/search', { query, k: 4, retrieval: { mode: 'hybrid' } })).body.results;
    nim.reset();
    nim.failNext({ path: '/v1/ranking', status: 200, body: { rankings: [2, 0, 1, 3].map((index, rank) => ({ index, logit: 5 - rank })) } });
    const { status, body } = await post('/v1/search', { query, k: 2, retrieval: { mode: 'hybrid' } });
    assert.equal(status, 200);
    const passages = nim.requestsTo('/v1/ranking')[0]?.body.passages.map((passage: { text: string }) => passage.text);
    assert.deepEqual([...passages].sort(), fused.map((hit: { text: string }) => hit.text).sort(), 'the reranker gets the fused candidates, RERANK_CANDIDATES of them');
    assert.deepEqual(body.results.map((hit: { text: string }) => hit.text), [passages[2], passages[0]]);
    const [third, first] = body.results as Array<{ score: number; matched: string[] }>;
    assert.ok((first?.score as number) >= (third?.score as number), 'the candidates went to the reranker in fused order, and keep their fused scores');
    assert.ok([first, third].every((hit) => (hit?.matched.length ?? 0) > 0));
  });

  it('turns a failing reranker into the NIM problem naming the model', async () => {
    nim.failNext({ path: '/v1/ranking', status: 404, body: { detail: 'Function not found for account' } });
    const { status, body } = await post('/v1/search', { query: 'pasta', k: 1 });
    assert.equal(status, 502);
    assert.equal(body.type, '/problems/nim-model-unavailable');
    assert.match(body.detail, new RegExp(RERANK_MODEL.replace(/[.]/g, '\\.')));
  });
});
