import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import createClient from 'openapi-fetch';
import type { components, paths } from '../../src/api/openapi-types.js';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { readEvents } from '../support/sse.js';
import { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES, startTestApp, type TestApp } from '../support/test-app.js';

type Schemas = components['schemas'];
const KEY = 'client-key-0123456789';

/**
 * A client generated from openapi.yaml (openapi-typescript types, checked to be current by
 * contract.test.ts, and openapi-fetch) drives the live server: if the contract and the server
 * disagreed, these calls would not type-check or would fail.
 */
describe('a client generated from openapi.yaml, against the live server', () => {
  let embedNim: NimEmulator;
  let llmNim: NimEmulator;
  let test: TestApp;
  // JSON bodies (application/json and application/problem+json); streams are read raw (parseAs: 'stream').
  let client: ReturnType<typeof createClient<paths, `${string}/${string}json`>>;

  before(async () => {
    embedNim = await NimEmulator.start({ models: [EMBED_MODEL] });
    llmNim = await NimEmulator.start({ models: [LLM_MODEL] });
    test = await startTestApp({ NIM_EMBEDDINGS_URL: embedNim.url, NIM_LLM_URL: llmNim.url, API_KEYS: KEY });
    const base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    client = createClient<paths, `${string}/${string}json`>({ baseUrl: base, headers: { authorization: `Bearer ${KEY}` } });
  });
  after(async () => {
    await test.close();
    await embedNim.stop();
    await llmNim.stop();
  });

  it('ingests, lists and reads documents', async () => {
    const documents = EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text, metadata: { n: index } }));
    const { data, response } = await client.POST('/v1/documents', { body: { documents, collection: 'examples' } });
    assert.equal(response.status, 201);
    // 202 (a background job) is the other success; this small request is stored at once.
    assert.ok(data && !('kind' in data));
    assert.deepEqual(data.documents.map((document) => document.status), Array(5).fill('created'));
    const listed = await client.GET('/v1/documents', { params: { query: { collection: 'examples', limit: 2 } } });
    assert.deepEqual(listed.data?.documents.map((document) => document.id), ['doc0', 'doc1']);
    const read = await client.GET('/v1/documents/{id}', { params: { path: { id: 'doc1' }, query: { collection: 'examples' } } });
    assert.equal(read.data?.text, EXAMPLE_DOCUMENTS[1]);
  });

  it('searches with a filter and asks', async () => {
    const search = await client.POST('/v1/search', { body: { query: EXAMPLE_QUERIES[1] as string, collection: 'examples', k: 3, filter: { n: { $lte: 2 } } } });
    assert.equal(search.data?.results[0]?.id, 'doc1');
    assert.ok(search.data?.results.every((hit) => (hit.metadata.n as number) <= 2));
    const ask = await client.POST('/v1/ask', { body: { question: EXAMPLE_QUERIES[1] as string, collection: 'examples', language: 'Italian' } });
    assert.match(ask.data?.answer ?? '', /^Emulated answer in Italian from: /);
    assert.equal(ask.data?.model, LLM_MODEL);
  });

  it('streams an answer whose events have the contract\'s event types', async () => {
    const { response } = await client.POST('/v1/ask', {
      body: { question: EXAMPLE_QUERIES[1] as string, collection: 'examples', stream: true },
      parseAs: 'stream',
    });
    const events = await readEvents(response);
    const sources = events[0]?.data as Schemas['AskSourcesEvent'];
    const done = events.at(-1)?.data as Schemas['AskDoneEvent'];
    const tokens = events.filter((event) => event.event === 'token').map((event) => (event.data as Schemas['AskTokenEvent']).text);
    assert.equal(sources.sources[0]?.id, 'doc1');
    assert.equal(tokens.join(''), done.answer);
  });

  it('computes the similarity matrix', async () => {
    const { data } = await client.POST('/v1/similarity', { body: { queries: [EXAMPLE_QUERIES[0] as string], documents: EXAMPLE_DOCUMENTS.slice(0, 2) } });
    assert.equal(data?.matrix.length, 1);
    assert.equal(data?.matrix[0]?.length, 2);
    assert.ok((data?.matrix[0]?.[0] ?? 0) > (data?.matrix[0]?.[1] ?? 1), 'the weather query is closest to the weather document');
  });

  it('deletes a document, and gets typed problems back', async () => {
    const deleted = await client.DELETE('/v1/documents/{id}', { params: { path: { id: 'doc1' }, query: { collection: 'examples' } } });
    assert.equal(deleted.response.status, 204);
    const gone = await client.GET('/v1/documents/{id}', { params: { path: { id: 'doc1' }, query: { collection: 'examples' } } });
    const problem: Schemas['Problem'] | undefined = gone.error;
    assert.equal(problem?.status, 404);
    assert.match(problem?.detail ?? '', /document "doc1" does not exist in collection "examples"/);
    const dropped = await client.DELETE('/v1/collections/{name}', { params: { path: { name: 'examples' } } });
    assert.equal(dropped.response.status, 204);
  });
});
