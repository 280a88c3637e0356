import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import { NO_CONTEXT_ANSWER } from '../../src/rag/ask-chain.js';
import { eventViolation } from '../support/contract.js';
import { defaultReply, EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { readEvents } from '../support/sse.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

const QUESTION = 'What kinds of food is Italy known for?';

describe('asking: streamed answers, generation options, no context', () => {
  let embedNim: NimEmulator;
  let llmNim: NimEmulator;
  let test: TestApp;
  let base: string;

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const streamAsk = (body: unknown) => post('/v1/ask', body, { accept: 'text/event-stream' });
  const chatRequests = () => llmNim.requestsTo('/v1/chat/completions');

  before(async () => {
    embedNim = await NimEmulator.start({ models: [EMBED_MODEL] });
    llmNim = await NimEmulator.start({ models: [LLM_MODEL], tokenIntervalMs: 2 });
    test = await startTestApp({ NIM_EMBEDDINGS_URL: embedNim.url, NIM_LLM_URL: llmNim.url, NIM_MAX_RETRIES: '0', NIM_TIMEOUT_MS: '3000' });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    const ingest = await post('/v1/documents', { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) });
    assert.equal(ingest.status, 201);
  });
  after(async () => {
    await test.close();
    await embedNim.stop();
    await llmNim.stop();
  });
  beforeEach(() => {
    embedNim.reset();
    llmNim.reset();
  });

  it('streams sources, then tokens as the NIM sends them, then done with the whole answer, usage and timings', async () => {
    const response = await streamAsk({ question: QUESTION, k: 2 });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await readEvents(response);
    const names = events.map((event) => event.event);
    assert.equal(names[0], 'sources');
    assert.equal(names.at(-1), 'done');
    assert.ok(names.slice(1, -1).every((name) => name === 'token') && names.length > 4, names.join(' '));
    for (const event of events) {
      const schema = { sources: 'AskSourcesEvent', token: 'AskTokenEvent', done: 'AskDoneEvent' }[event.event] as string;
      assert.equal(eventViolation(schema, event.data), undefined);
    }
    assert.equal(events[0]?.data.sources.length, 2);
    assert.equal(events[0]?.data.sources[0].id, 'doc1', 'the Italy document, retrieved first');
    const done = events.at(-1)?.data;
    const sent = chatRequests()[0]?.body;
    assert.equal(sent.stream, true);
    assert.equal(done.answer, defaultReply(sent.messages), 'done carries exactly what the model produced');
    assert.equal(events.filter((event) => event.event === 'token').map((event) => event.data.text).join(''), done.answer);
    assert.equal(done.model, LLM_MODEL);
    assert.equal(done.finish_reason, 'stop');
    assert.ok(done.usage.prompt_tokens > 0 && done.usage.completion_tokens > 0);
    const { retrieval_ms: retrieval, first_token_ms: firstToken, total_ms: total } = done.timings;
    assert.ok(retrieval > 0 && firstToken >= retrieval && total >= firstToken, JSON.stringify(done.timings));
  });

  it('streams when the body says "stream": true, whatever the Accept header', async () => {
    const events = await readEvents(await post('/v1/ask', { question: QUESTION, stream: true }));
    assert.equal(events.at(-1)?.event, 'done');
  });

  it('answers with JSON carrying usage, finish reason and timings, and passes generation options to the NIM', async () => {
    const response = await post('/v1/ask', { question: QUESTION, temperature: 0.2, top_p: 0.7, max_tokens: 64, seed: 42 });
    assert.equal(response.status, 200);
    const body = (await response.json()) as any;
    const sent = chatRequests()[0]?.body;
    assert.deepEqual(
      { temperature: sent.temperature, top_p: sent.top_p, max_tokens: sent.max_tokens, seed: sent.seed, stream: sent.stream },
      { temperature: 0.2, top_p: 0.7, max_tokens: 64, seed: 42, stream: false },
    );
    assert.equal(body.answer, defaultReply(sent.messages));
    assert.equal(body.finish_reason, 'stop');
    assert.deepEqual(Object.keys(body.usage).sort(), ['completion_tokens', 'prompt_tokens', 'total_tokens']);
    assert.equal(typeof body.timings.generation_ms, 'number');
    assert.equal(body.timings.first_token_ms, undefined, 'no first token without a stream');
  });

  it('refuses generation options out of range with a 400 naming the field, before calling any NIM', async () => {
    const response = await post('/v1/ask', { question: QUESTION, temperature: 3 });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as any).detail, /temperature must be <= 2/);
    assert.equal(chatRequests().length + embedNim.requestsTo('/v1/embeddings').length, 0);
  });

  it('does not call the model when nothing is retrieved, and says so', async () => {
    const plain = (await (await post('/v1/ask', { question: QUESTION, min_score: 0.999 })).json()) as any;
    assert.equal(plain.answer, NO_CONTEXT_ANSWER);
    assert.deepEqual(plain.sources, []);
    const events = await readEvents(await streamAsk({ question: QUESTION, collection: 'default', filter: { lang: 'none' } }));
    assert.deepEqual(events.map((event) => event.event), ['sources', 'token', 'done']);
    assert.equal(events[2]?.data.answer, NO_CONTEXT_ANSWER);
    assert.equal(chatRequests().length, 0);
  });

  it('sends an error event when the NIM fails mid-stream, and no done', async () => {
    llmNim.failNext({ path: '/v1/chat/completions', streamErrorAfterTokens: 2 });
    const events = await readEvents(await streamAsk({ question: QUESTION }));
    // Two tokens, in one event if they were read together, then the error.
    const names = events.map((event) => event.event);
    assert.deepEqual([names[0], names.at(-1)], ['sources', 'error'], names.join(' '));
    assert.ok(names.slice(1, -1).every((name) => name === 'token') && names.length >= 3, names.join(' '));
    assert.equal(events.filter((event) => event.event === 'token').map((event) => event.data.text).join('').split(' ').filter(Boolean).length, 2);
    const problem = events.at(-1)?.data;
    assert.equal(eventViolation('Problem', problem), undefined);
    assert.equal(problem.status, 502);
    assert.equal(problem.type, '/problems/nim-stream-error');
    assert.match(problem.detail, /the model worker crashed/);
  });

  it('answers a failure before the stream starts with a plain problem and its status', async () => {
    embedNim.failNext({ path: '/v1/embeddings', status: 410, body: { detail: 'model retired' } });
    const response = await streamAsk({ question: QUESTION });
    assert.equal(response.status, 502);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(((await response.json()) as any).type, '/problems/nim-model-retired');
  });

  it('cancels the request to the NIM when the client goes away mid-stream', async () => {
    const slow = await NimEmulator.start({ models: [LLM_MODEL], tokenIntervalMs: 40, reply: () => 'word '.repeat(200) });
    const app = await startTestApp({ NIM_EMBEDDINGS_URL: embedNim.url, NIM_LLM_URL: slow.url, NIM_MAX_RETRIES: '0' });
    try {
      const url = await app.app.listen({ port: 0, host: '127.0.0.1' });
      await app.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: [{ text: EXAMPLE_DOCUMENTS[1] as string }] } });
      const controller = new AbortController();
      const response = await fetch(`${url}/v1/ask`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ question: QUESTION }),
        signal: controller.signal,
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let received = '';
      while (!received.includes('event: token')) {
        const { done, value } = await reader.read();
        if (done) assert.fail(`the stream ended before a token event: ${received}`);
        received += new TextDecoder().decode(value);
      }
      controller.abort();
      for (let waited = 0; slow.cancelledStreams === 0 && waited < 3000; waited += 50) await sleep(50);
      assert.equal(slow.cancelledStreams, 1, 'the NIM saw its stream closed long before the 200 words were out');
    } finally {
      await app.close();
      await slow.stop();
    }
  });
});
