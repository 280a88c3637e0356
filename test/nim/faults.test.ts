import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { HumanMessage } from '@langchain/core/messages';
import { ChatNVIDIA, NVIDIAClient, NVIDIAEmbeddings, NVIDIAError, vectorProblem } from '@nim-rag/langchain-nvidia';
import { nimProblem } from '../../src/nim/nim-problem.js';
import { ModelHealth } from '../../src/nim/model-health.js';
import { nimProbe } from '../../src/nim/readiness.js';
import { embeddingRewrites, type Fault, FaultyNim } from '../support/faulty-nim.js';
import { emulatedEmbedding, NimEmulator } from '../support/nim-emulator.js';
import { silentLogger } from '../support/test-app.js';

const MODEL = 'NV-Embed-QA';
const LLM = 'mistralai/mixtral-8x7b-instruct-v0.1';
const EMBEDDINGS = '/v1/embeddings';
const CHAT = '/v1/chat/completions';

function client(proxy: FaultyNim, overrides: Partial<ConstructorParameters<typeof NVIDIAClient>[0]> = {}) {
  return new NVIDIAClient({
    baseUrl: proxy.url,
    apiKey: undefined,
    timeoutMs: 1000,
    maxRetries: 3,
    maxConcurrency: 8,
    logger: silentLogger,
    retryBaseDelayMs: 5,
    ...overrides,
  });
}

/** The package's error, and the problem this service makes of it: its type (slug) and status. */
const problemOf = (error: unknown) => {
  assert.ok(error instanceof NVIDIAError, `an NVIDIAError, got ${String(error)}`);
  return nimProblem(error);
};

const isNimError = (slug: string, status: number, pattern?: RegExp) => (error: unknown) => {
  const problem = problemOf(error);
  assert.equal(problem.type, `/problems/${slug}`);
  assert.equal(problem.status, status);
  assert.match(problem.detail, new RegExp(MODEL.replace(/[.]/g, '\\.') + '|' + LLM.replace(/[.]/g, '\\.')));
  if (pattern) assert.match(problem.detail, pattern);
  return true;
};

describe('NIM faults: embeddings', () => {
  let emulator: NimEmulator;
  let proxy: FaultyNim;
  let embeddings: NVIDIAEmbeddings;

  before(async () => {
    emulator = await NimEmulator.start();
    proxy = await FaultyNim.start(emulator.origin);
  });
  after(async () => {
    await proxy.stop();
    await emulator.stop();
  });
  beforeEach(() => {
    proxy.clear();
    // Floats, which the rewrites below corrupt number by number.
    embeddings = new NVIDIAEmbeddings({ client: client(proxy), model: MODEL, truncate: 'NONE', encodingFormat: 'float' });
  });

  const texts = Array.from({ length: 8 }, (_, index) => `passage ${index} about subject ${index}`);
  const expected = texts.map((text) => emulatedEmbedding(text, 1024));

  // Each of these, once, is retried and the call succeeds with the right vectors; persistent, it is a 502 naming the model.
  const badBodies: Array<[string, Fault, RegExp]> = [
    ['a reset after the headers', { kind: 'reset-after-headers' }, /cannot be reached|UND_ERR|socket|terminated/i],
    ['a truncated JSON body', { kind: 'truncate' }, /not JSON/],
    ['malformed JSON', { kind: 'body', contentType: 'application/json', body: '{"data": [{"index": 0,' }, /not JSON/],
    ['an HTML page with 200', { kind: 'body', contentType: 'text/html', body: '<html><body>Bad gateway</body></html>' }, /text\/html.*not JSON/],
    ['plain text with 200', { kind: 'body', contentType: 'text/plain', body: 'upstream connect error' }, /text\/plain.*not JSON/],
    ['an empty body with 200', { kind: 'body', contentType: 'application/json', body: '' }, /empty body/],
    ['one embedding too few', { kind: 'rewrite', rewrite: embeddingRewrites.wrongCount }, /expected 8 embeddings, got 7/],
    ['a vector of the wrong dimension', { kind: 'rewrite', rewrite: embeddingRewrites.wrongDimension(3, 512) }, /512 dimensions, not 1024/],
    ['an empty vector', { kind: 'rewrite', rewrite: embeddingRewrites.wrongDimension(0, 0) }, /empty|0 dimensions/],
    ['NaN in a vector', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(2, 'NaN') }, /not JSON/],
    ['1e400 in a vector', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(2, '1e400') }, /Infinity at position 0/],
    ['null in a vector', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(2, 'null') }, /null at position 0/],
    ['a string in a vector', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(2, '"0.5"') }, /"0.5" at position 0/],
    ['an all-null vector', { kind: 'rewrite', rewrite: embeddingRewrites.allNull(1) }, /null at position 0/],
    ['an all-zero vector', { kind: 'rewrite', rewrite: embeddingRewrites.zeroVector(1) }, /no direction/],
    ['an index out of range', { kind: 'rewrite', rewrite: embeddingRewrites.badIndex(0, 8) }, /index 8/],
    ['a negative index', { kind: 'rewrite', rewrite: embeddingRewrites.badIndex(0, -1) }, /index -1/],
    ['a duplicate index', { kind: 'rewrite', rewrite: embeddingRewrites.badIndex(0, 1) }, /index 1: out of range or repeated/],
  ];

  for (const [what, fault, detail] of badBodies) {
    it(`retries ${what} once and returns the right vectors`, async () => {
      proxy.inject(EMBEDDINGS, fault);
      const vectors = await embeddings.embedDocuments(texts);
      assert.deepEqual(vectors, expected);
      assert.equal(proxy.requestsTo(EMBEDDINGS), 2);
    });

    it(`fails on ${what} every time with a 502 naming the model, after the retries`, async () => {
      proxy.inject(EMBEDDINGS, fault, Infinity);
      const kind = fault.kind === 'reset-after-headers' ? undefined : 'bad-response';
      await assert.rejects(embeddings.embedDocuments(texts), (error: unknown) => {
        const problem = problemOf(error);
        if (kind) assert.equal((error as NVIDIAError).kind, kind);
        assert.ok([502, 503].includes(problem.status), `status ${problem.status}`);
        assert.match(problem.detail, /NV-Embed-QA/);
        assert.match(problem.detail, detail);
        return true;
      });
      assert.equal(proxy.requestsTo(EMBEDDINGS), 4, 'the first attempt and three retries');
    });
  }

  it('retries a reset before the headers and a burst of 5xx, sharing one retry budget', async () => {
    proxy.inject(EMBEDDINGS, { kind: 'reset-before-headers' });
    proxy.inject(EMBEDDINGS, { kind: 'status', status: 500 });
    proxy.inject(EMBEDDINGS, { kind: 'truncate' });
    assert.deepEqual(await embeddings.embedDocuments(texts), expected);
    assert.equal(proxy.requestsTo(EMBEDDINGS), 4);
  });

  it('ends a persistent 503 in a 503 with Retry-After, not a 502', async () => {
    proxy.inject(EMBEDDINGS, { kind: 'status', status: 503 }, Infinity);
    await assert.rejects(embeddings.embedQuery('x'), (error: unknown) => {
      isNimError('nim-busy', 503)(error);
      assert.equal(problemOf(error).headers['retry-after'], '5');
      return true;
    });
  });

  it('waits out a short Retry-After on 429, and answers a huge one at once with 503 and that Retry-After', async () => {
    proxy.inject(EMBEDDINGS, { kind: 'status', status: 429, retryAfter: '0.2' });
    assert.deepEqual(await embeddings.embedQuery(texts[0] as string), expected[0]);
    proxy.clear();
    proxy.inject(EMBEDDINGS, { kind: 'status', status: 429, retryAfter: '86400' });
    await assert.rejects(embeddings.embedQuery('x'), (error: unknown) => {
      isNimError('nim-rate-limited', 503)(error);
      assert.equal(problemOf(error).headers['retry-after'], '86400');
      return true;
    });
    assert.equal(proxy.requestsTo(EMBEDDINGS), 1, 'not retried');
  });

  it('times out a hanging NIM with a 504 and retries it', async () => {
    const quick = new NVIDIAEmbeddings({ client: client(proxy, { timeoutMs: 200, maxRetries: 1 }), model: MODEL, truncate: 'NONE', encodingFormat: 'float' });
    proxy.inject(EMBEDDINGS, { kind: 'hang' }, Infinity);
    await assert.rejects(quick.embedQuery('x'), isNimError('nim-timeout', 504));
    assert.equal(proxy.requestsTo(EMBEDDINGS), 2);
  });

  it('refuses batches of one request whose vectors differ in size, though each batch is consistent', async () => {
    const small = new NVIDIAEmbeddings({ client: client(proxy, { maxRetries: 0 }), model: MODEL, truncate: 'NONE', batchSize: 4, encodingFormat: 'float' });
    const shrinkAll = (body: any) => JSON.stringify({ ...body, data: body.data.map((item: any) => ({ ...item, embedding: item.embedding.slice(0, 512) })) });
    proxy.inject(EMBEDDINGS, { kind: 'rewrite', rewrite: shrinkAll });
    await assert.rejects(small.embedDocuments(texts), isNimError('nim-bad-response', 502, /different sizes \((1024, 512|512, 1024)\)/));
  });

  it('names what is wrong with a vector', () => {
    assert.equal(vectorProblem([0.6, 0.8], 2), undefined);
    assert.equal(vectorProblem([0.6, 0.8], 3), 'has 2 dimensions, not 3');
    assert.equal(vectorProblem([1e200, 1e200], 2), 'has no direction (its norm is 0 or overflows)');
    assert.equal(vectorProblem([Number.NaN], undefined), 'has NaN at position 0, not a finite number');
    assert.equal(vectorProblem('0.5', undefined), 'is not a list of numbers');
  });
});

describe('NIM faults: chat', () => {
  let emulator: NimEmulator;
  let proxy: FaultyNim;
  const messages = [new HumanMessage('Say something long enough to come in several pieces, please.')];

  before(async () => {
    emulator = await NimEmulator.start({ reply: () => 'One two three four five six seven eight nine ten.' });
    proxy = await FaultyNim.start(emulator.origin);
  });
  after(async () => {
    await proxy.stop();
    await emulator.stop();
  });
  beforeEach(() => proxy.clear());

  const streamed = async (chat: ChatNVIDIA) => {
    let text = '';
    for await (const chunk of await chat.stream(messages)) text += chunk.text;
    return text;
  };

  it('streams the whole answer when nothing goes wrong', async () => {
    assert.equal(await streamed(new ChatNVIDIA({ client: client(proxy), model: LLM })), 'One two three four five six seven eight nine ten.');
  });

  it('fails a stream that ends without [DONE], instead of passing a cut answer off as whole', async () => {
    proxy.inject(CHAT, { kind: 'cut-stream', events: 4 });
    await assert.rejects(streamed(new ChatNVIDIA({ client: client(proxy), model: LLM })), isNimError('nim-bad-response', 502, /without data: \[DONE\]/));
  });

  it('fails a stream cut in the middle of an event', async () => {
    proxy.inject(CHAT, { kind: 'truncate' });
    await assert.rejects(streamed(new ChatNVIDIA({ client: client(proxy), model: LLM })), isNimError('nim-bad-response', 502));
  });

  it('raises an error event sent inside the stream', async () => {
    proxy.inject(CHAT, { kind: 'stream-error', events: 3, message: 'CUDA out of memory' });
    await assert.rejects(streamed(new ChatNVIDIA({ client: client(proxy), model: LLM })), isNimError('nim-stream-error', 502, /CUDA out of memory/));
  });

  for (const [what, contentType, body] of [
    ['an HTML page', 'text/html', '<html>502 Bad Gateway</html>'],
    ['plain text', 'text/plain', 'no healthy upstream'],
    ['an empty JSON body', 'application/json', ''],
  ] as const) {
    it(`answers ${what} with 200 to a stream request with a 502 quoting it`, async () => {
      proxy.inject(CHAT, { kind: 'body', contentType, body });
      const pattern = new RegExp(`expected an event stream, got ${contentType.replace('/', '\\/')}`);
      await assert.rejects(streamed(new ChatNVIDIA({ client: client(proxy), model: LLM })), isNimError('nim-bad-response', 502, pattern));
    });

    it(`answers ${what} with 200 to a plain completion with a 502`, async () => {
      proxy.inject(CHAT, { kind: 'body', contentType, body });
      await assert.rejects(new ChatNVIDIA({ client: client(proxy), model: LLM }).invoke(messages), isNimError('nim-bad-response', 502, /not JSON/));
    });
  }

  it('fails a truncated completion body with a 502, and does not resend a completion', async () => {
    proxy.inject(CHAT, { kind: 'truncate' });
    await assert.rejects(new ChatNVIDIA({ client: client(proxy), model: LLM }).invoke(messages), isNimError('nim-bad-response', 502, /not JSON/));
    assert.equal(proxy.requestsTo(CHAT), 1);
  });

  it('stops a stream that drips below the minimum rate, with a 504 saying so', async () => {
    const strict = client(proxy, { timeoutMs: 300, streamMinBytesPerSecond: 100 });
    proxy.inject(CHAT, { kind: 'drip', intervalMs: 30 });
    const started = performance.now();
    await assert.rejects(streamed(new ChatNVIDIA({ client: strict, model: LLM })), isNimError('nim-timeout', 504, /bytes\/s.*NIM_STREAM_MIN_BYTES_PER_SECOND/));
    assert.ok(performance.now() - started < 1500, 'stopped at the end of the first slow window');
  });

  it('stops a stream at its overall deadline however steadily it progresses', async () => {
    const bounded = client(proxy, { timeoutMs: 1000, streamTimeoutMs: 400 });
    proxy.inject(CHAT, { kind: 'drip', intervalMs: 2 });
    await assert.rejects(streamed(new ChatNVIDIA({ client: bounded, model: LLM })), isNimError('nim-timeout', 504, /within 400 ms \(NIM_STREAM_TIMEOUT_MS\)/));
  });

  it('makes readiness say a hanging LLM stopped answering, without probing the NIM, until a call succeeds', async () => {
    const health = new ModelHealth();
    const llm = client(proxy, { timeoutMs: 200, maxRetries: 0, hooks: { onCallEnd: health.record } });
    const probe = nimProbe(llm, health, LLM, true);
    assert.equal((await probe()).ready, true);
    proxy.inject(CHAT, { kind: 'hang' });
    await assert.rejects(new ChatNVIDIA({ client: llm, model: LLM }).invoke(messages), isNimError('nim-timeout', 504));
    const status = await probe();
    assert.equal(status.ready, false);
    assert.match(status.detail, /did not get an answer.*did not answer in time/);
    assert.equal(proxy.requestsTo('/v1/health/ready'), 0);
    await new ChatNVIDIA({ client: llm, model: LLM }).invoke(messages);
    assert.equal((await probe()).ready, true);
  });
});
