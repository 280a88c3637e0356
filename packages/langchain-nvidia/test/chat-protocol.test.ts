import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { type CallOutcome, ChatNVIDIA, DEFAULT_CHAT_MODEL, NVIDIAClient, NVIDIAError, type NVIDIAErrorKind } from '@nim-rag/langchain-nvidia';
import { NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const REPLY = 'Pasta, pizza, gelato and espresso are what Italy is famous for.';

describe('ChatNVIDIA against the NIM emulator', () => {
  let emulator: NimEmulator;
  let client: NVIDIAClient;
  let outcomes: CallOutcome[];

  before(async () => {
    emulator = await NimEmulator.start({ reply: () => REPLY });
  });
  after(() => emulator.stop());
  beforeEach(() => {
    emulator.reset();
    outcomes = [];
    client = new NVIDIAClient({
      baseUrl: emulator.url,
      apiKey: undefined,
      timeoutMs: 2000,
      maxRetries: 2,
      maxConcurrency: 8,
      logger: quiet,
      retryBaseDelayMs: 5,
      hooks: { onCallEnd: (outcome) => outcomes.push(outcome) },
    });
  });

  const messages = [new SystemMessage('You answer briefly.'), new HumanMessage('What is Italy known for?')];

  it('sends an OpenAI-style completion request with the defaults and returns the text and usage', async () => {
    const chat = new ChatNVIDIA({ client, model: DEFAULT_CHAT_MODEL });
    const result = await chat.invoke(messages);
    assert.equal(result.content, REPLY);
    assert.equal(result.usage_metadata?.output_tokens, REPLY.match(/\S+\s*/g)?.length);
    assert.deepEqual(emulator.requestsTo('/v1/chat/completions')[0]?.body, {
      model: DEFAULT_CHAT_MODEL,
      messages: [
        { role: 'system', content: 'You answer briefly.' },
        { role: 'user', content: 'What is Italy known for?' },
      ],
      max_tokens: 1024,
      stream: false,
    });
  });

  it('sends temperature, top_p, seed and stop when set, and per-call generation options override them', async () => {
    const chat = new ChatNVIDIA({ client, temperature: 0.2, topP: 0.7, seed: 42, maxTokens: 64, stop: ['\n\n'] });
    await chat.invoke(messages);
    await chat.withConfig({ temperature: 1.5, maxTokens: 8 }).invoke(messages);
    const [first, second] = emulator.requestsTo('/v1/chat/completions').map((request) => request.body);
    assert.equal(first.temperature, 0.2);
    assert.equal(first.top_p, 0.7);
    assert.equal(first.seed, 42);
    assert.equal(first.max_tokens, 64);
    assert.deepEqual(first.stop, ['\n\n']);
    assert.equal(second.temperature, 1.5);
    assert.equal(second.max_tokens, 8);
    assert.equal(second.top_p, 0.7);
  });

  it('refuses settings outside the allowed ranges', () => {
    assert.throws(() => new ChatNVIDIA({ client, temperature: 2.5 }), /temperature must be between 0 and 2/);
    assert.throws(() => new ChatNVIDIA({ client, topP: 1.5 }), /top_p must be between 0 and 1/);
    assert.throws(() => new ChatNVIDIA({ client, maxTokens: 0 }), /max_tokens/);
  });

  it('streams tokens as the NIM sends them over SSE', async () => {
    const paced = await NimEmulator.start({ reply: () => REPLY, tokenIntervalMs: 15 });
    const chat = new ChatNVIDIA({ baseUrl: paced.url, model: DEFAULT_CHAT_MODEL, logger: quiet });
    const pieces: string[] = [];
    try {
      for await (const chunk of await chat.stream(messages)) pieces.push(chunk.text);
    } finally {
      await chat.close();
      await paced.stop();
    }
    // Tokens sent apart arrive apart (a busy machine may still read two at once).
    assert.ok(pieces.filter(Boolean).length > REPLY.split(' ').length / 2, `got ${pieces.length} pieces`);
    assert.equal(pieces.join(''), REPLY);
  });

  it('makes the text of events that arrive together one chunk, and keeps usage and finish reason apart', async () => {
    const chat = new ChatNVIDIA({ client, model: DEFAULT_CHAT_MODEL });
    const chunks = [];
    for await (const chunk of await chat.stream(messages)) chunks.push(chunk);
    assert.equal(chunks.map((chunk) => chunk.text).join(''), REPLY);
    const texts = chunks.filter((chunk) => chunk.text);
    assert.ok(texts.length < REPLY.split(' ').length, `the ${REPLY.split(' ').length} tokens sent at once came in ${texts.length} chunks`);
    assert.equal(chunks.find((chunk) => chunk.response_metadata.finish_reason)?.response_metadata.finish_reason, 'stop');
    assert.equal(chunks.find((chunk) => chunk.usage_metadata)?.usage_metadata?.output_tokens, REPLY.split(' ').length);
    const request = emulator.requestsTo('/v1/chat/completions')[0];
    assert.equal(request?.body.stream, true);
    assert.equal(request?.headers.accept, 'text/event-stream');
  });

  it('raises an error object sent inside the SSE stream instead of ending quietly', async () => {
    emulator.failNext({ path: '/v1/chat/completions', streamErrorAfterTokens: 3 });
    const chat = new ChatNVIDIA({ client, model: DEFAULT_CHAT_MODEL });
    const pieces: string[] = [];
    await assert.rejects(
      async () => {
        for await (const chunk of await chat.stream(messages)) pieces.push(chunk.text);
      },
      (error: unknown) => {
        assert.ok(error instanceof NVIDIAError);
        assert.equal(error.kind, 'stream-error');
        assert.match(error.message, /the model worker crashed/);
        return true;
      },
    );
    assert.equal(pieces.join(''), 'Pasta, pizza, gelato ');
  });

  const hostedFailures: Array<[string, number, unknown, NVIDIAErrorKind, RegExp]> = [
    ['a retired model (410 Gone)', 410, { detail: 'Function has been removed' }, 'model-retired', /retired.*Function has been removed/],
    ['a model the account is not entitled to (404)', 404, { detail: 'Function not found for account' }, 'model-unavailable', /not available.*not entitled/],
    [
      'a DEGRADED function (400)',
      400,
      { status: 400, title: 'Bad Request', detail: "Function 'abc': DEGRADED function cannot be invoked" },
      'model-degraded',
      /degraded.*DEGRADED function cannot be invoked/,
    ],
    ['a rejected key (401)', 401, { status: 401, title: 'Unauthorized', detail: 'Authentication failed' }, 'auth', /credentials.*NVIDIA_API_KEY/],
  ];
  for (const [what, upstream, body, kind, detail] of hostedFailures) {
    it(`turns ${what} into kind ${kind}, naming the model and quoting the NIM`, async () => {
      emulator.failNext({ path: '/v1/chat/completions', status: upstream, body });
      const chat = new ChatNVIDIA({ client, model: DEFAULT_CHAT_MODEL });
      await assert.rejects(chat.invoke(messages), (error: unknown) => {
        assert.ok(error instanceof NVIDIAError);
        assert.equal(error.kind, kind);
        assert.equal(error.upstreamStatus, upstream);
        assert.match(error.message, new RegExp(DEFAULT_CHAT_MODEL.replace(/[.]/g, '\\.')));
        assert.match(error.message, detail);
        assert.deepEqual(outcomes, [{ endpoint: '/chat/completions', model: DEFAULT_CHAT_MODEL, error }], 'the onCallEnd hook learns how the call ended');
        return true;
      });
      assert.equal(emulator.requestsTo('/v1/chat/completions').length, 1, 'not retried');
      await chat.invoke(messages);
      assert.deepEqual(outcomes.at(-1), { endpoint: '/chat/completions', model: DEFAULT_CHAT_MODEL, error: undefined }, 'and of a success');
    });
  }

  it('gives up at once with the Retry-After the NIM sent when it asks for a longer wait than retryMaxDelayMs', async () => {
    const patient = new NVIDIAClient({
      baseUrl: emulator.url,
      apiKey: undefined,
      timeoutMs: 2000,
      maxRetries: 3,
      maxConcurrency: 8,
      logger: quiet,
      retryMaxDelayMs: 1000,
    });
    emulator.failNext({ path: '/v1/chat/completions', status: 429, retryAfter: '120' });
    await assert.rejects(new ChatNVIDIA({ client: patient, model: DEFAULT_CHAT_MODEL }).invoke(messages), (error: unknown) => {
      assert.ok(error instanceof NVIDIAError);
      assert.equal(error.kind, 'rate-limited');
      assert.equal(error.retryAfterSeconds, 120);
      return true;
    });
    assert.equal(emulator.requestsTo('/v1/chat/completions').length, 1);
  });
});
