import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Fault, FaultyNim } from '../support/faulty-nim.js';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { readEvents } from '../support/sse.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

const EMBEDDINGS = '/v1/embeddings';
const CHAT = '/v1/chat/completions';
const QUESTION = 'What kinds of food is Italy known for?';

/**
 * Collects what is written to the console (a library writing there breaks the one-JSON-object-a-line
 * log) from `install` until `restore`.
 */
function consoleWatch() {
  const written: string[] = [];
  const sink = globalThis.console as unknown as Record<string, (...args: unknown[]) => void>;
  const methods = ['log', 'info', 'warn', 'error', 'debug'];
  const originals = methods.map((name) => sink[name]);
  return {
    written,
    install: () => {
      for (const name of methods) sink[name] = (...args: unknown[]) => void written.push(args.map(String).join(' '));
    },
    restore: () => methods.forEach((name, position) => (sink[name] = originals[position] as (...args: unknown[]) => void)),
  };
}

describe('NIM faults seen through the HTTP API', () => {
  let embedNim: NimEmulator;
  let llmNim: NimEmulator;
  let embedProxy: FaultyNim;
  let llmProxy: FaultyNim;
  let test: TestApp;
  let base: string;
  const consoleOutput = consoleWatch();

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const streamAsk = () => post('/v1/ask', { question: QUESTION, k: 2 }, { accept: 'text/event-stream' });
  const streamChat = () => post('/v1/chat/completions', { model: LLM_MODEL, messages: [{ role: 'user', content: QUESTION }], stream: true });

  before(async () => {
    consoleOutput.install();
    embedNim = await NimEmulator.start({ models: [EMBED_MODEL] });
    llmNim = await NimEmulator.start({ models: [LLM_MODEL] });
    embedProxy = await FaultyNim.start(embedNim.origin);
    llmProxy = await FaultyNim.start(llmNim.origin);
    test = await startTestApp({
      NIM_EMBEDDINGS_URL: embedProxy.url,
      NIM_LLM_URL: llmProxy.url,
      NIM_MAX_RETRIES: '2',
      NIM_TIMEOUT_MS: '400',
      NIM_STREAM_MIN_BYTES_PER_SECOND: '200',
    });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    const ingest = await post('/v1/documents', { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) });
    assert.equal(ingest.status, 201);
  });
  after(async () => {
    await test.close();
    await embedProxy.stop();
    await llmProxy.stop();
    await embedNim.stop();
    await llmNim.stop();
    consoleOutput.restore();
    assert.deepEqual(consoleOutput.written, [], 'nothing is written around the JSON log, whatever the NIMs did');
  });
  beforeEach(() => {
    embedProxy.clear();
    llmProxy.clear();
  });

  const brokenStreams: Array<[string, Fault, number, RegExp]> = [
    ['a stream cut without [DONE]', { kind: 'cut-stream', events: 3 }, 502, /without data: \[DONE\]/],
    ['a stream cut mid-event', { kind: 'truncate' }, 502, /without data: \[DONE\]/],
    ['an error event', { kind: 'stream-error', events: 2, message: 'the model worker crashed' }, 502, /the model worker crashed/],
    ['an HTML page with 200', { kind: 'body', contentType: 'text/html', body: '<html>Bad Gateway</html>' }, 502, /expected an event stream/],
    ['an empty body with 200', { kind: 'body', contentType: 'text/plain', body: '' }, 502, /expected an event stream/],
    ['a slow drip', { kind: 'drip', intervalMs: 40 }, 504, /NIM_STREAM_MIN_BYTES_PER_SECOND/],
  ];

  for (const [what, fault, status, detail] of brokenStreams) {
    it(`ends a streamed ask on ${what} with an error event (${status}), never done`, async () => {
      llmProxy.inject(CHAT, fault);
      const events = await readEvents(await streamAsk());
      const names = events.map((event) => event.event);
      assert.equal(names.includes('done'), false, names.join(' '));
      assert.equal(names.at(-1), 'error');
      const problem = events.at(-1)?.data;
      assert.equal(problem.status, status);
      assert.equal(problem.model, LLM_MODEL);
      assert.match(problem.detail, detail);
    });

    it(`ends a streamed OpenAI completion on ${what} with an error object, never finish_reason "stop"`, async () => {
      llmProxy.inject(CHAT, fault);
      const response = await streamChat();
      assert.equal(response.status, 200);
      const events = await readEvents(response);
      const finishes = events.flatMap((event) => (event.data?.choices ?? []).map((choice: any) => choice.finish_reason)).filter(Boolean);
      assert.deepEqual(finishes, []);
      const error = events.find((event) => event.data?.error)?.data;
      assert.equal(error?.status, status);
      assert.match(error?.error.message, detail);
    });
  }

  it('answers a plain ask whose completion body is HTML with a 502 problem naming the model', async () => {
    llmProxy.inject(CHAT, { kind: 'body', contentType: 'text/html', body: '<html>oops</html>' });
    const response = await post('/v1/ask', { question: QUESTION, k: 2 });
    assert.equal(response.status, 502);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = (await response.json()) as any;
    assert.equal(problem.model, LLM_MODEL);
    assert.match(problem.detail, /text\/html.*not JSON/);
  });

  it('answers a search while the embedding NIM keeps answering 503 with a 503 and Retry-After', async () => {
    embedProxy.inject(EMBEDDINGS, { kind: 'status', status: 503 }, Infinity);
    const response = await post('/v1/search', { query: QUESTION });
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '5');
    assert.equal(((await response.json()) as any).model, EMBED_MODEL);
  });

  it('searches through a reset after the headers and a truncated body, retried', async () => {
    embedProxy.inject(EMBEDDINGS, { kind: 'reset-after-headers' });
    embedProxy.inject(EMBEDDINGS, { kind: 'truncate' });
    const response = await post('/v1/search', { query: QUESTION, k: 1 });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as any).results[0].id, 'doc1');
    assert.equal(embedProxy.requestsTo(EMBEDDINGS), 3);
  });

  it('turns not ready while the LLM NIM hangs, and ready again once it answers', async () => {
    llmProxy.inject(CHAT, { kind: 'hang' }, 3);
    const response = await post('/v1/ask', { question: QUESTION, k: 2 });
    assert.equal(response.status, 504);
    const ready = await fetch(`${base}/v1/health/ready`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as any;
    assert.equal(body.providers.llm.ready, false);
    assert.match(body.providers.llm.detail, /did not get an answer/);
    assert.equal((await post('/v1/ask', { question: QUESTION, k: 2 })).status, 200);
    assert.equal((await fetch(`${base}/v1/health/ready`)).status, 200);
  });
});
