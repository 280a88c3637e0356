import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { readEvents } from '../support/sse.js';
import { startTestApp, type TestApp, storeTotals } from '../support/test-app.js';

/** Defects found by callers the tests had not imitated: each input here once reached a handler unchecked. */

function assertProblem(response: LightMyRequestResponse, status: number, detail: RegExp): void {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal(response.json().status, status);
  assert.match(response.json().detail, detail);
}

const JSON_POSTS: Array<[url: string, body: object]> = [
  ['/v1/documents', { documents: [{ text: 'x' }] }],
  ['/v1/documents/delete', { filter: { a: 1 } }],
  ['/v1/search', { query: 'x' }],
  ['/v1/ask', { question: 'x' }],
  ['/v1/ask/stream', { question: 'x' }],
  ['/v1/similarity', { queries: ['x'], documents: ['y'] }],
  ['/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'x' }] }],
];

describe('the contract at its edges', () => {
  let test: TestApp;
  before(async () => {
    test = await startTestApp();
  });
  after(() => test.close());

  it('answers 415 to a JSON body sent as text/plain or application/problem+json, on every JSON operation', async () => {
    for (const [url, body] of JSON_POSTS) {
      for (const type of ['text/plain', 'application/problem+json', 'application/x-www-form-urlencoded']) {
        const response = await test.app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload: JSON.stringify(body) });
        assert.equal(response.statusCode, 415, `${url} as ${type}: ${response.body}`);
        assert.match(response.body, /application\/json/, 'the problem names the media type to use');
      }
    }
    assert.equal((await storeTotals(test.services.store)).documents, 0);
  });

  it('answers 400 to a POST without a body, on every JSON operation', async () => {
    for (const [url] of JSON_POSTS) {
      const response = await test.app.inject({ method: 'POST', url });
      assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
      assert.match(response.body, /needs a request body/);
    }
  });

  it('reads and deletes a document whose id has the longest length the API accepts, in any script', async () => {
    for (const id of ['a'.repeat(256), '文'.repeat(256)]) {
      const ingest = await test.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: [{ id, text: 'long id' }] } });
      assert.equal(ingest.statusCode, 201);
      const url = `/v1/documents/${encodeURIComponent(id)}`;
      assert.equal((await test.app.inject({ method: 'GET', url })).json().id, id);
      assert.equal((await test.app.inject({ method: 'DELETE', url })).statusCode, 204);
    }
    assertProblem(await test.app.inject({ method: 'GET', url: `/v1/documents/${'a'.repeat(257)}` }), 400, /must NOT have more than 256 characters/);
    assertProblem(await test.app.inject({ method: 'GET', url: `/v1/documents/${'a'.repeat(5000)}` }), 414, /path parameter is longer/);
  });

  it('answers a URL it cannot decode with a problem document', async () => {
    assertProblem(await test.app.inject({ method: 'GET', url: '/v1/documents/%ZZ' }), 400, /invalid percent-encoding/);
  });

  it('refuses metadata nested too deep or too large, naming the limit, and stores nothing', async () => {
    const ingest = (metadata: object | string) =>
      test.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: { 'content-type': 'application/json' },
        payload: `{"documents":[{"id":"m","text":"meta","metadata":${typeof metadata === 'string' ? metadata : JSON.stringify(metadata)}}]}`,
      });
    assertProblem(await ingest('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)), 400, /documents\[0\]\.metadata nests deeper than 32 levels, the limit/);
    assertProblem(await ingest({ blob: 'x'.repeat(70_000) }), 400, /documents\[0\]\.metadata is \d+ bytes as JSON; the limit is 65536/);
    assert.equal((await ingest({ nested: { ok: [1, { two: 2 }] } })).statusCode, 201);
    assert.equal((await storeTotals(test.services.store)).documents, 1);
  });

  it('bounds the chunks one request creates and the overlap relative to the size', async () => {
    const text = 'word '.repeat(4000);
    const ingest = (chunking: object, documents = [{ text }]) => test.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents, chunking } });
    assertProblem(await ingest({ size: 50, overlap: 49 }), 400, /chunking\.overlap \(49\) must be at most half of chunking\.size \(50\)/);
    const many = Array.from({ length: 1000 }, () => ({ text: 'x'.repeat(600) }));
    assertProblem(await ingest({ size: 50, overlap: 0 }, many), 413, /at least 12000 chunks; one request may create at most 10000 \(INGEST_MAX_CHUNKS\)/);
    const before = (await storeTotals(test.services.store)).chunks;
    assert.equal((await ingest({ size: 50, overlap: 25 })).statusCode, 201);
    assert.ok((await storeTotals(test.services.store)).chunks - before <= 2 * (text.length / 50), 'at most twice the chunks of no overlap');
  });

  it('bounds filters: $in values and conditions', async () => {
    const search = (filter: object) => test.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x', filter } });
    assertProblem(await search({ tag: { $in: Array.from({ length: 100_000 }, (_, i) => i) } }), 400, /\$in takes at most 1024 values/);
    assertProblem(await search({ $or: Array.from({ length: 300 }, (_, i) => ({ [`f${i}`]: i })) }), 400, /at most 256 conditions/);
  });

  it('redirects POST /ask to v1/ask with 308, keeping method and body', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/ask', payload: { question: 'x' } });
    assert.equal(response.statusCode, 308);
    assert.equal(response.headers.location, 'v1/ask');
    const base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    const followed = await fetch(`${base}/ask`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'What?' }) });
    assert.equal(followed.status, 200);
    assert.equal(((await followed.json()) as { model: string }).model, 'local-extractive');
  });

  it('streams POST /v1/ask/stream as events whatever the Accept header says', async () => {
    const base = test.app.listeningOrigin;
    const response = await fetch(`${base}/v1/ask/stream`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ question: 'What?' }) });
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = (await readEvents(response)).map((event) => event.event);
    assert.deepEqual([events[0], events.at(-1)], ['sources', 'done']);
  });
});

describe('OpenAI compatibility at its edges', () => {
  let test: TestApp;
  before(async () => {
    test = await startTestApp();
  });
  after(() => test.close());
  const chat = (body: object) =>
    test.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'm', messages: [{ role: 'user', content: 'What?' }], ...body } });

  it('sends the usage chunk when asked, even when the answerer counted no tokens', async () => {
    const response = await chat({ stream: true, stream_options: { include_usage: true } });
    const chunks = response.body
      .split('\n')
      .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
      .map((line) => JSON.parse(line.slice(6)) as { choices: unknown[]; usage?: unknown });
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.deepEqual(chunks.at(-1)?.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });

  it('refuses tools, tool_choice, functions and a non-text response_format with 400 and a string code', async () => {
    const tool = { type: 'function', function: { name: 'f', parameters: {} } };
    for (const [body, named] of [
      [{ tools: [tool] }, 'tools'],
      [{ tool_choice: 'required' }, 'tool_choice'],
      [{ functions: [tool.function] }, 'functions'],
      [{ response_format: { type: 'json_object' } }, 'response_format'],
    ] as const) {
      const response = await chat(body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.match(response.json().error.message, new RegExp(`^${named}: not supported`));
      assert.equal(response.json().error.code, 'bad_request');
    }
    assert.equal((await chat({ tools: [], tool_choice: 'none', response_format: { type: 'text' } })).statusCode, 200);
  });

  it('answers GET /v1/models/{model} with the model, or a 404 carrying OpenAI\'s error object', async () => {
    const found = await test.app.inject({ method: 'GET', url: '/v1/models/local-extractive' });
    assert.deepEqual({ ...found.json<object>(), created: 0 }, { id: 'local-extractive', object: 'model', created: 0, owned_by: 'nim-rag' });
    const missing = await test.app.inject({ method: 'GET', url: '/v1/models/gpt-4o' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'model_not_found');
    assert.match(missing.json().error.message, /gpt-4o/);
  });

  it('gives a body of the wrong media type OpenAI\'s error object too', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'text/plain' }, payload: '{}' });
    assert.equal(response.statusCode, 415);
    assert.equal(response.json().error.code, 'unsupported_media_type');
  });
});

describe('router and parser errors over a real connection', () => {
  let test: TestApp;
  let port: number;
  before(async () => {
    test = await startTestApp();
    await test.app.listen({ port: 0, host: '127.0.0.1' });
    port = (test.app.server.address() as { port: number }).port;
  });
  after(() => test.close());

  /** Sends raw bytes and reads until the server closes the connection. */
  const exchange = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      let received = '';
      socket.setEncoding('utf8').on('data', (text: string) => (received += text));
      socket.on('end', () => resolve(received)).on('error', reject);
    });

  it('answers headers over the limit with 431 as a problem document and Connection: close', async () => {
    const reply = await exchange(`GET /v1/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 431 /);
    assert.match(reply, /\r\nConnection: close\r\n/i);
    assert.match(reply, /\r\nContent-Type: application\/problem\+json/i);
    assert.equal(JSON.parse(reply.split('\r\n\r\n')[1] ?? '').status, 431);
  });

  it('answers a malformed request with 400 as a problem document', async () => {
    const reply = await exchange('NOT HTTP AT ALL\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.equal(JSON.parse(reply.split('\r\n\r\n')[1] ?? '').type, '/problems/http-400');
  });

  it('answers a bad escape over the wire as a problem document', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/documents/%ZZ`);
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  });
});
