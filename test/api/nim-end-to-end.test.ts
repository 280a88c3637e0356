import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultReply, EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES, startTestApp, type TestApp } from '../support/test-app.js';

describe('end to end over HTTP against self-hosted NIMs (emulated)', () => {
  let embedNim: NimEmulator;
  let llmNim: NimEmulator;
  let test: TestApp;
  let base: string;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    embedNim = await NimEmulator.start({ models: [EMBED_MODEL], apiKey: 'nvapi-self-hosted' });
    llmNim = await NimEmulator.start({ models: [LLM_MODEL], apiKey: 'nvapi-self-hosted' });
    test = await startTestApp({
      NIM_EMBEDDINGS_URL: embedNim.origin,
      NIM_LLM_URL: `${llmNim.url}/`,
      NVIDIA_API_KEY: 'nvapi-self-hosted',
      NIM_TIMEOUT_MS: '1500',
      NIM_MAX_RETRIES: '1',
    });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await test.close();
    await embedNim.stop();
    await llmNim.stop();
  });

  it('discovered each NIM\'s model from GET /v1/models', () => {
    assert.equal(embedNim.requestsTo('/v1/models').length, 1);
    assert.equal(llmNim.requestsTo('/v1/models').length, 1);
    assert.equal(test.services.store.embeddingModel, EMBED_MODEL);
    assert.equal(test.services.ask.model, LLM_MODEL);
  });

  it('ingests the five example documents with exactly the embeddings request the NIM protocol describes', async () => {
    embedNim.reset();
    const response = await call('POST', '/v1/documents', { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) });
    assert.equal(response.status, 201);
    const requests = embedNim.requestsTo('/v1/embeddings');
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.headers.authorization, 'Bearer nvapi-self-hosted');
    assert.equal(requests[0]?.headers.traceparent, undefined, 'tracing is off: no trace context is sent (test/telemetry has it on)');
    assert.deepEqual(requests[0]?.body, {
      input: EXAMPLE_DOCUMENTS,
      model: EMBED_MODEL,
      input_type: 'passage',
      encoding_format: 'base64',
      truncate: 'NONE',
    });
  });

  it('searches the five example queries, each embedded as one "query" input', async () => {
    embedNim.reset();
    const top: string[] = [];
    for (const query of EXAMPLE_QUERIES) {
      const response = await call('POST', '/v1/search', { query, k: 3 });
      assert.equal(response.status, 200);
      assert.equal(response.body.results.length, 3);
      top.push(response.body.results[0].id);
    }
    const requests = embedNim.requestsTo('/v1/embeddings');
    assert.deepEqual(
      requests.map((request) => [request.body.input, request.body.input_type]),
      EXAMPLE_QUERIES.map((query) => [[query], 'query']),
    );
    assert.equal(top[0], 'doc0');
    assert.equal(top[1], 'doc1');
  });

  it('asks through the chain: the LLM gets the retrieved context and the language, the caller gets its exact answer', async () => {
    llmNim.reset();
    const response = await call('POST', '/v1/ask', { question: EXAMPLE_QUERIES[1], language: 'Italian', k: 2 });
    assert.equal(response.status, 200);
    const [request] = llmNim.requestsTo('/v1/chat/completions');
    const messages = request?.body.messages;
    assert.equal(request?.body.model, LLM_MODEL);
    assert.equal(request?.body.max_tokens, 1024);
    assert.equal(messages[0].role, 'system');
    assert.ok(messages[0].content.startsWith(`Answer using information solely based on the following context:\n<Documents>\n${EXAMPLE_DOCUMENTS[1]}\n\n`));
    assert.ok(messages[0].content.endsWith('\n</Documents>\nSpeak only in the following language: Italian'));
    assert.deepEqual(messages[1], { role: 'user', content: EXAMPLE_QUERIES[1] });
    assert.equal(response.body.answer, defaultReply(messages));
    assert.equal(response.body.model, LLM_MODEL);
    assert.equal(response.body.sources[0].id, 'doc1');
  });

  it('sends at most 50 inputs per embeddings request for a bigger batch', async () => {
    embedNim.reset();
    const documents = Array.from({ length: 120 }, (_, index) => ({ id: `bulk${index}`, text: `bulk document number ${index}` }));
    assert.equal((await call('POST', '/v1/documents', { documents, collection: 'bulk' })).status, 201);
    const sizes = embedNim.requestsTo('/v1/embeddings').map((request) => request.body.input.length);
    assert.equal(sizes.reduce((sum, size) => sum + size, 0), 120);
    assert.ok(sizes.every((size) => size <= 50), `sizes ${sizes.join(',')}`);
  });

  it('names the over-long document and chunk with a 422, and stores nothing from that request', async () => {
    const long = Array.from({ length: 700 }, (_, index) => `token${index}`).join(' ');
    const response = await call('POST', '/v1/documents', {
      collection: 'long',
      documents: [{ id: 'fine', text: 'a fine short text' }, { id: 'too-long', text: long }],
      chunking: false,
    });
    assert.equal(response.status, 422);
    assert.equal(response.body.type, '/problems/input-too-long');
    assert.match(response.body.detail, /document "too-long" chunk 0 \(characters 0-\d+\) is longer than embedding model nvidia\/nv-embedqa-e5-v5 accepts \(limit 512 tokens\)/);
    assert.match(response.body.detail, /EMBEDDINGS_TRUNCATE=END/);
    assert.equal(response.body.document_id, 'too-long');
    assert.equal((await call('GET', '/v1/documents/fine?collection=long')).status, 404);
  });

  it('turns a NIM that keeps rate limiting into a 503 with the NIM\'s Retry-After', async () => {
    embedNim.failNext({ path: '/v1/embeddings', status: 429, retryAfter: '90' });
    const response = await call('POST', '/v1/search', { query: 'weather' });
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '90');
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(response.body.detail, /rate limiting model nvidia\/nv-embedqa-e5-v5/);
  });

  it('turns a hanging LLM into a 504', async () => {
    llmNim.failNext({ path: '/v1/chat/completions', hang: true, times: 2 });
    const response = await call('POST', '/v1/ask', { question: 'weather?' });
    assert.equal(response.status, 504);
    assert.equal(response.body.type, '/problems/nim-timeout');
  });

  it('reports a retired model in readiness until a call succeeds again', async () => {
    llmNim.failNext({ path: '/v1/chat/completions', status: 410, body: { detail: 'model has reached end of life' } });
    const failed = await call('POST', '/v1/ask', { question: 'weather?' });
    assert.equal(failed.status, 502);
    assert.match(failed.body.detail, /model mistralai\/mixtral-8x7b-instruct-v0\.1 has been retired.*end of life/);
    const ready = await call('GET', '/v1/health/ready');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.providers.llm.ready, false);
    assert.match(ready.body.providers.llm.detail, /retired/);
    assert.equal(ready.body.providers.embeddings.ready, true);
    assert.equal((await call('POST', '/v1/ask', { question: 'weather?' })).status, 200);
  });

  it('is not ready while a NIM is still loading its model', async () => {
    embedNim.ready = false;
    const ready = await call('GET', '/v1/health/ready');
    embedNim.ready = true;
    assert.equal(ready.status, 503);
    assert.equal(ready.body.offline, false);
    assert.match(ready.body.providers.embeddings.detail, /answered 503 to GET \/v1\/health\/ready/);
  });
});
