import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { InputTooLongError, NVIDIAClient, NVIDIAEmbeddings, NVIDIAError } from '@nim-rag/langchain-nvidia';
import { emulatedEmbedding, NimEmulator } from './support/nim-emulator.js';
import { quiet, unusedPort } from './support/helpers.js';

const MODEL = 'NV-Embed-QA';

function client(emulator: NimEmulator, overrides: Partial<ConstructorParameters<typeof NVIDIAClient>[0]> = {}) {
  return new NVIDIAClient({
    baseUrl: emulator.url,
    apiKey: 'nvapi-test',
    timeoutMs: 2000,
    maxRetries: 3,
    maxConcurrency: 4,
    logger: quiet,
    retryBaseDelayMs: 10,
    ...overrides,
  });
}

describe('NVIDIAEmbeddings against the NIM emulator', () => {
  let emulator: NimEmulator;
  let embeddings: NVIDIAEmbeddings;

  before(async () => {
    emulator = await NimEmulator.start({ apiKey: 'nvapi-test', reverseEmbeddingOrder: true });
  });
  after(() => emulator.stop());
  beforeEach(() => {
    emulator.reset();
    embeddings = new NVIDIAEmbeddings({ client: client(emulator), model: MODEL, truncate: 'NONE' });
  });

  it('embeds a query as input_type "query" with the exact request body the NIM protocol expects', async () => {
    const vector = await embeddings.embedQuery('What is the weather like?');
    assert.deepEqual(vector, emulatedEmbedding('What is the weather like?', 1024));
    const [request] = emulator.requestsTo('/v1/embeddings');
    assert.equal(request?.headers.authorization, 'Bearer nvapi-test');
    assert.equal(request?.headers['content-type'], 'application/json');
    assert.deepEqual(request?.body, {
      input: ['What is the weather like?'],
      model: MODEL,
      input_type: 'query',
      encoding_format: 'base64',
      truncate: 'NONE',
    });
  });

  it('embeds documents as "passage" in requests of at most 50, in input order whatever order the NIM returns', async () => {
    const texts = Array.from({ length: 120 }, (_, index) => `passage number ${index} about topic ${index % 9}`);
    const vectors = await embeddings.embedDocuments(texts);
    assert.equal(vectors.length, 120);
    texts.forEach((text, index) => assert.deepEqual(vectors[index], emulatedEmbedding(text, 1024), `vector ${index}`));
    const sizes = emulator.requestsTo('/v1/embeddings').map((request) => request.body.input.length);
    assert.deepEqual(sizes.sort((a, b) => b - a), [50, 50, 20]);
    for (const request of emulator.requestsTo('/v1/embeddings')) assert.equal(request.body.input_type, 'passage');
  });

  it('sends dimensions only when configured', async () => {
    const sized = new NVIDIAEmbeddings({ client: client(emulator), model: MODEL, truncate: 'END', dimensions: 256 });
    const vector = await sized.embedQuery('hello');
    assert.equal(vector.length, 256);
    assert.equal(emulator.requestsTo('/v1/embeddings')[0]?.body.dimensions, 256);
    assert.equal(emulator.requestsTo('/v1/embeddings')[0]?.body.truncate, 'END');
    await embeddings.embedQuery('hello');
    assert.equal('dimensions' in (emulator.requestsTo('/v1/embeddings')[1]?.body ?? {}), false);
  });

  it('retries a 429, waiting out Retry-After, then succeeds', async () => {
    emulator.failNext({ path: '/v1/embeddings', status: 429, retryAfter: '1', times: 1 });
    const started = performance.now();
    const vector = await embeddings.embedQuery('patience');
    const waited = performance.now() - started;
    assert.equal(vector.length, 1024);
    assert.equal(emulator.requestsTo('/v1/embeddings').length, 2);
    assert.ok(waited >= 950, `waited only ${waited} ms`);
  });

  it('retries 5xx with backoff and gives up after maxRetries with a server-error naming the model', async () => {
    emulator.failNext({ path: '/v1/embeddings', status: 500, body: { error: 'worker crashed' }, times: 10 });
    await assert.rejects(embeddings.embedQuery('x'), (error: unknown) => {
      assert.ok(error instanceof NVIDIAError);
      assert.equal(error.kind, 'server-error');
      assert.equal(error.upstreamStatus, 500);
      assert.match(error.message, /NV-Embed-QA/);
      assert.match(error.message, /worker crashed/);
      return true;
    });
    assert.equal(emulator.requestsTo('/v1/embeddings').length, 4);
  });

  it('does not retry a 400 other than an over-long input', async () => {
    emulator.failNext({ path: '/v1/embeddings', status: 400, body: { error: 'bad things' } });
    await assert.rejects(embeddings.embedQuery('x'), (error: unknown) => error instanceof NVIDIAError && error.kind === 'rejected-request');
    assert.equal(emulator.requestsTo('/v1/embeddings').length, 1);
  });

  it('names the over-long input and the token limit when truncate is NONE', async () => {
    const texts = Array.from({ length: 60 }, (_, index) => `short text ${index}`);
    texts[37] = Array.from({ length: 600 }, (_, index) => `word${index}`).join(' ');
    await assert.rejects(embeddings.embedDocuments(texts), (error: unknown) => {
      assert.ok(error instanceof InputTooLongError);
      assert.equal(error.inputIndex, 37);
      assert.equal(error.tokenLimit, 512);
      assert.equal(error.kind, 'input-too-long');
      assert.match(error.message, /input 37/);
      assert.match(error.message, /exceeds maximum allowed token size 512/);
      return true;
    });
  });

  it('lets the NIM truncate when truncate is END', async () => {
    const truncating = new NVIDIAEmbeddings({ client: client(emulator), model: MODEL, truncate: 'END' });
    const long = Array.from({ length: 600 }, (_, index) => `word${index}`).join(' ');
    const [vector] = await truncating.embedDocuments([long]);
    assert.equal(vector?.length, 1024);
  });

  it('times out a hanging NIM with a 504', async () => {
    const impatient = new NVIDIAEmbeddings({
      client: client(emulator, { timeoutMs: 200, maxRetries: 0 }),
      model: MODEL,
      truncate: 'NONE',
    });
    emulator.failNext({ path: '/v1/embeddings', hang: true });
    await assert.rejects(impatient.embedQuery('x'), (error: unknown) => error instanceof NVIDIAError && error.kind === 'timeout');
  });

  it('reports an unreachable NIM as kind unreachable', async () => {
    const nowhere = new NVIDIAClient({
      baseUrl: `http://127.0.0.1:${await unusedPort()}/v1`,
      apiKey: undefined,
      timeoutMs: 500,
      maxRetries: 1,
      maxConcurrency: 1,
        logger: quiet,
      retryBaseDelayMs: 5,
    });
    const unreachable = new NVIDIAEmbeddings({ client: nowhere, model: MODEL, truncate: 'NONE' });
    await assert.rejects(unreachable.embedQuery('x'), (error: unknown) => {
      assert.ok(error instanceof NVIDIAError);
      assert.equal(error.kind, 'unreachable');
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
  });

  it('keeps at most maxConcurrency requests in flight', async () => {
    const slow = await NimEmulator.start({ embedLatencyMs: 30 });
    try {
      const bounded = new NVIDIAEmbeddings({
        client: client(slow, { apiKey: undefined, maxConcurrency: 2 }),
        model: MODEL,
        truncate: 'NONE',
        batchSize: 5,
      });
      await bounded.embedDocuments(Array.from({ length: 40 }, (_, index) => `text ${index}`));
      assert.equal(slow.requestsTo('/v1/embeddings').length, 8);
      assert.equal(slow.peakEmbeddingConcurrency, 2);
    } finally {
      await slow.stop();
    }
  });

  it('sends none of the batches still waiting for a slot once one batch has failed', async () => {
    const slow = await NimEmulator.start({ embedLatencyMs: 30 });
    try {
      const bounded = new NVIDIAEmbeddings({ client: client(slow, { apiKey: undefined, maxConcurrency: 1 }), model: MODEL, truncate: 'NONE', batchSize: 5 });
      slow.failNext({ path: '/v1/embeddings', status: 400, body: { error: 'bad things' } });
      await assert.rejects(
        bounded.embedDocuments(Array.from({ length: 30 }, (_, index) => `text ${index}`)),
        (error: unknown) => error instanceof NVIDIAError && error.kind === 'rejected-request',
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(slow.requestsTo('/v1/embeddings').length, 1, 'the five other batches were never sent');
    } finally {
      await slow.stop();
    }
  });

  it('counts a batch cancelled by its sibling\'s failure as cancelled, not as a NIM failure to retry', async () => {
    const slow = await NimEmulator.start({ embedLatencyMs: 100 });
    try {
      const statuses: string[] = [];
      const bounded = new NVIDIAEmbeddings({
        client: client(slow, { apiKey: undefined, maxConcurrency: 2, hooks: { onAttempt: ({ status }) => statuses.push(status) } }),
        model: MODEL,
        truncate: 'NONE',
        batchSize: 5,
      });
      slow.failNext({ path: '/v1/embeddings', status: 400, body: { error: 'bad things' } });
      await assert.rejects(
        bounded.embedDocuments(Array.from({ length: 10 }, (_, index) => `text ${index}`)),
        (error: unknown) => error instanceof NVIDIAError && error.kind === 'rejected-request',
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(statuses.sort(), ['400', 'cancelled']);
    } finally {
      await slow.stop();
    }
  });

  it('does not send a call whose caller went away while it waited for a slot', async () => {
    const slow = await NimEmulator.start({ embedLatencyMs: 50 });
    try {
      const bounded = new NVIDIAEmbeddings({ client: client(slow, { apiKey: undefined, maxConcurrency: 1 }), model: MODEL, truncate: 'NONE' });
      const inFlight = bounded.embedDocuments(['holds the only slot']);
      const caller = new AbortController();
      const waiting = bounded.embedQuery('the question', { signal: caller.signal });
      setTimeout(() => caller.abort(new Error('client went away')), 10);
      await assert.rejects(waiting, /client went away/);
      await inFlight;
      assert.deepEqual(
        slow.requestsTo('/v1/embeddings').map((request) => request.body.input),
        [['holds the only slot']],
      );
    } finally {
      await slow.stop();
    }
  });

  it('stops waiting out a Retry-After as soon as its caller goes away, with the caller\'s reason', async () => {
    emulator.failNext({ path: '/v1/embeddings', status: 503, retryAfter: '1', times: 1 });
    const caller = new AbortController();
    const call = embeddings.embedQuery('x', { signal: caller.signal });
    // The caller leaves once the first attempt has been answered, whatever the machine's load.
    while (emulator.requestsTo('/v1/embeddings').length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const started = performance.now();
    caller.abort(new Error('client went away'));
    await assert.rejects(call, /client went away/);
    assert.ok(performance.now() - started < 500, 'it did not sleep out the second');
    assert.equal(emulator.requestsTo('/v1/embeddings').length, 1, 'no retry was sent');
  });

  it('sends a query ahead of the document batches already waiting for a slot', async () => {
    const slow = await NimEmulator.start({ embedLatencyMs: 30 });
    try {
      const bounded = new NVIDIAEmbeddings({ client: client(slow, { apiKey: undefined, maxConcurrency: 1 }), model: MODEL, truncate: 'NONE', batchSize: 5 });
      const ingest = bounded.embedDocuments(Array.from({ length: 30 }, (_, index) => `text ${index}`));
      await new Promise((resolve) => setTimeout(resolve, 10));
      await bounded.embedQuery('the question');
      const order = slow.requestsTo('/v1/embeddings').map((request) => request.body.input_type);
      assert.deepEqual(order, ['passage', 'query'], 'the query went out right after the batch in flight, ahead of five waiting ones');
      await ingest;
    } finally {
      await slow.stop();
    }
  });
});
