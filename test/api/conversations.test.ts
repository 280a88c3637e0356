import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { CONVERSATION_DOCUMENTS, TURNS } from '../support/conversation-corpus.js';
import { eventViolation } from '../support/contract.js';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { type ServiceBackend, serviceBackends } from '../support/service-backends.js';
import { readEvents } from '../support/sse.js';
import { startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';

const KEY = 'sk-conv-one-0123456789abcdef';
const OTHER_KEY = 'sk-conv-two-0123456789abcdef';
const MAX_CHARS = 3000;

type Message = { role: 'system' | 'user' | 'assistant'; content: string };
type RagExtension = { nim_rag?: { standalone_query: string; sources: Array<{ id: string }> }; sources?: Array<{ id: string }> };

const ids = (sources: Array<{ id: string }>) => sources.map((source) => source.id);
const contents = (messages: Array<{ content: string }>) => messages.map((message) => message.content);

/** One app over the NIM emulator (embeddings and LLM) and an API key, with the corpus ingested. */
async function conversationApp(backend: ServiceBackend, nim: NimEmulator, extra: Record<string, string> = {}): Promise<{ test: TestApp; base: string }> {
  const test = await startTestApp({
    ...(await backend.prepare()),
    NIM_EMBEDDINGS_URL: nim.url,
    NIM_EMBEDDINGS_MODEL: EMBED_MODEL,
    NIM_LLM_URL: nim.url,
    NIM_LLM_MODEL: LLM_MODEL,
    NIM_MAX_RETRIES: '0',
    API_KEYS: `${KEY},${OTHER_KEY}`,
    HISTORY_MAX_CHARS: String(MAX_CHARS),
    ...extra,
  });
  const ingest = await test.app.inject({ method: 'POST', url: '/v1/documents', headers: { authorization: `Bearer ${KEY}` }, payload: { documents: CONVERSATION_DOCUMENTS } });
  assert.equal(ingest.statusCode, 201, ingest.body);
  return { test, base: await test.app.listen({ port: 0, host: '127.0.0.1' }) };
}

for (const backend of serviceBackends()) {
  describe(`conversations: follow-ups answered in context (${backend.name} store)`, () => {
    let nim: NimEmulator;
    let test: TestApp;
    let base: string;
    let client: OpenAI;

    before(async () => {
      nim = await NimEmulator.start({ models: [EMBED_MODEL, LLM_MODEL] });
      ({ test, base } = await conversationApp(backend, nim));
      client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0 });
    });
    after(async () => {
      await test.close();
      await nim.stop();
    });
    beforeEach(() => nim.reset());

    const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, key = KEY) =>
      test.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });
    const stream = async (body: object, key = KEY) => {
      const response = await fetch(`${base}/v1/ask/stream`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
      assert.equal(response.status, 200);
      const events = await readEvents(response);
      for (const event of events) if (event.event !== 'error') assert.equal(eventViolation(`Ask${event.event[0]?.toUpperCase()}${event.event.slice(1)}Event`, event.data), undefined);
      return events;
    };

    it('the official openai client: a three-turn conversation, each follow-up retrieving through the earlier turns, which reach the NIM', async () => {
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: 'Answer in one sentence.' }];
      const expected = [['italy-weather', 'italy-food'], ['italy-weather'], ['italy-food']];
      for (const [turn, question] of TURNS.entries()) {
        nim.reset();
        messages.push({ role: 'user', content: question });
        const completion = (await client.chat.completions.create({ model: 'any', messages, k: 2 } as OpenAI.ChatCompletionCreateParamsNonStreaming)) as OpenAI.ChatCompletion & RagExtension;
        const found = ids(completion.sources ?? []);
        if (turn === 0) assert.deepEqual(new Set(found), new Set(expected[0]), `turn ${turn + 1}: ${found.join()}`);
        else assert.equal(found[0], expected[turn]?.[0], `turn ${turn + 1} retrieved ${found.join()}`);
        assert.deepEqual(completion.nim_rag?.sources, completion.sources);
        const sent = nim.chatMessages();
        // The first question has no history: one call, the answer; each follow-up is condensed first.
        assert.deepEqual(nim.chatCalls(), { condense: turn === 0 ? 0 : 1, answer: 1 });
        const answerPrompt = sent.at(-1) ?? [];
        assert.match(answerPrompt[0]?.content ?? '', /^Answer using information solely based on the following context:[\s\S]*<\/Documents>\n\nAnswer in one sentence\.$/, 'the caller\'s system message follows ours');
        assert.deepEqual(contents(answerPrompt.slice(1)), contents(messages.slice(1) as Message[]), 'the NIM got the earlier turns, then the question');
        if (turn > 0) {
          assert.deepEqual(contents((sent[0] ?? []).slice(1)), contents(messages.slice(1) as Message[]), 'the condense prompt carries the earlier turns');
          assert.match(completion.nim_rag?.standalone_query ?? '', new RegExp(`^${question.replace(/[?.]/g, '\\$&')} .*Italy`));
        } else {
          assert.equal(completion.nim_rag?.standalone_query, question);
        }
        // The answer's usage as the NIM counted it (the emulator: one completion token a word), not the condensing call's.
        const answer = completion.choices[0]?.message.content ?? '';
        assert.equal(completion.usage?.completion_tokens, answer.match(/\S+\s*/g)?.length, `turn ${turn + 1} usage ${JSON.stringify(completion.usage)}`);
        assert.ok((completion.usage?.prompt_tokens ?? 0) > 0);
        assert.equal(completion.usage?.total_tokens, (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0));
        messages.push({ role: 'assistant', content: answer });
      }
    });

    it('the openai client streaming: the first chunk carries the standalone query and the sources', async () => {
      const chunks: Array<OpenAI.ChatCompletionChunk & RagExtension> = [];
      const completion = await client.chat.completions.create({
        model: 'any',
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          { role: 'user', content: TURNS[0] },
          { role: 'assistant', content: 'Italy is in Europe.' },
          { role: 'user', content: TURNS[1] },
        ],
      });
      for await (const chunk of completion) chunks.push(chunk);
      assert.equal(chunks[0]?.nim_rag?.sources[0]?.id, 'italy-weather');
      assert.match(chunks[0]?.nim_rag?.standalone_query ?? '', /weather like there\? .*Italy/);
      const streamed = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
      assert.equal(chunks.at(-1)?.usage?.completion_tokens, streamed.match(/\S+\s*/g)?.length, 'the usage chunk counts the answer');
      assert.ok((chunks.at(-1)?.usage?.prompt_tokens ?? 0) > 0);
    });

    it('/v1/ask JSON with messages: the standalone query, the rewriter and its time', async () => {
      const reply = await call('POST', '/v1/ask', {
        k: 2,
        messages: [
          { role: 'user', content: TURNS[0] },
          { role: 'assistant', content: 'Italy is in Europe.' },
          { role: 'user', content: TURNS[1] },
        ],
      });
      assert.equal(reply.statusCode, 200, reply.body);
      const body = reply.json();
      assert.equal(body.sources[0].id, 'italy-weather');
      assert.equal(body.standalone_query, 'And what is the weather like there? Italy');
      assert.equal(body.timings.rewriter, LLM_MODEL);
      assert.ok(body.timings.rewrite_ms > 0);
      assert.deepEqual(nim.chatCalls(), { condense: 1, answer: 1 });
    });

    it('/v1/ask without history makes no extra NIM call and reports no rewrite', async () => {
      const reply = await call('POST', '/v1/ask', { question: TURNS[1], k: 2 });
      const body = reply.json();
      assert.equal(body.standalone_query, TURNS[1]);
      assert.deepEqual([body.timings.rewriter, body.timings.rewrite_ms], ['none', 0]);
      assert.equal(body.sources[0].id, 'komchatka-weather', 'asked alone, the follow-up finds the other weather');
      assert.deepEqual(nim.chatCalls(), { condense: 0, answer: 1 });
    });

    it('/v1/ask/stream with messages: standalone_query in the sources event, timings in done', async () => {
      const events = await stream({ k: 2, messages: [{ role: 'user', content: TURNS[0] }, { role: 'assistant', content: 'Italy is in Europe.' }, { role: 'user', content: TURNS[1] }] });
      const sources = events.find((event) => event.event === 'sources')?.data;
      const done = events.at(-1);
      assert.equal(sources.standalone_query, 'And what is the weather like there? Italy');
      assert.equal(sources.sources[0].id, 'italy-weather');
      assert.equal(done?.event, 'done');
      assert.equal(done?.data.timings.rewriter, LLM_MODEL);
    });

    it('a stored conversation: created, continued with only the new question (JSON and SSE), read back with its sources, deleted', async () => {
      const created = await call('POST', '/v1/conversations', {});
      assert.equal(created.statusCode, 201, created.body);
      const conversation = created.json();
      assert.match(conversation.id, /^conv_[0-9a-f]{32}$/);
      assert.equal(created.headers.location, `/v1/conversations/${conversation.id}`);
      assert.deepEqual([conversation.collection, conversation.turns], ['default', []]);

      const first = await call('POST', '/v1/ask', { question: TURNS[0], conversation_id: conversation.id, k: 2 });
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().conversation_id, conversation.id);
      assert.deepEqual(nim.chatCalls(), { condense: 0, answer: 1 });
      nim.reset();
      const events = await stream({ question: TURNS[1], conversation_id: conversation.id, k: 2 });
      assert.equal(events.find((event) => event.event === 'sources')?.data.sources[0].id, 'italy-weather');
      assert.equal(events.at(-1)?.data.conversation_id, conversation.id);
      assert.deepEqual(contents(nim.chatMessages()[0]?.slice(1) ?? []), [TURNS[0], first.json().answer, TURNS[1]], 'the stored turn is the history');

      const stored = (await call('GET', `/v1/conversations/${conversation.id}`)).json();
      assert.deepEqual(stored.turns.map((turn: { question: string }) => turn.question), [TURNS[0], TURNS[1]]);
      assert.equal(stored.turns[1].standalone_query, 'And what is the weather like there? Italy');
      assert.equal(stored.turns[1].answer, events.at(-1)?.data.answer);
      assert.equal(stored.turns[1].sources[0].id, 'italy-weather');
      assert.ok(stored.updated_at >= stored.created_at);

      // Another key's conversation does not exist for it.
      assert.equal((await call('GET', `/v1/conversations/${conversation.id}`, undefined, OTHER_KEY)).statusCode, 404);
      nim.reset();
      const stranger = await call('POST', '/v1/ask', { question: TURNS[2], conversation_id: conversation.id }, OTHER_KEY);
      assert.equal(stranger.statusCode, 404);
      assert.equal(stranger.json().type, '/problems/conversation-not-found');
      assert.equal(nim.requests.length, 0);

      assert.equal((await call('DELETE', `/v1/conversations/${conversation.id}`)).statusCode, 204);
      const gone = await call('GET', `/v1/conversations/${conversation.id}`);
      assert.deepEqual([gone.statusCode, gone.json().type], [404, '/problems/conversation-not-found']);
      const askGone = await call('POST', '/v1/ask', { question: TURNS[2], conversation_id: conversation.id });
      assert.deepEqual([askGone.statusCode, askGone.json().type], [404, '/problems/conversation-not-found']);
      assert.equal((await call('DELETE', `/v1/conversations/${conversation.id}`)).statusCode, 404);
      assert.equal(nim.requests.length, 0, 'the model was never called for them');
    });

    it('a stream that fails stores no turn; a conversation idle past its retention is purged', async () => {
      const { id } = (await call('POST', '/v1/conversations', { collection: 'default' })).json();
      nim.failNext({ path: '/v1/chat/completions', streamErrorAfterTokens: 1 });
      const events = await stream({ question: TURNS[0], conversation_id: id });
      assert.equal(events.at(-1)?.event, 'error');
      assert.deepEqual((await call('GET', `/v1/conversations/${id}`)).json().turns, []);
      assert.equal(await test.services.conversations.purge(Date.now() + 719 * 3_600_000), 0);
      assert.ok((await test.services.conversations.purge(Date.now() + 721 * 3_600_000)) >= 1);
      assert.equal((await call('GET', `/v1/conversations/${id}`)).statusCode, 404);
    });

    it('refuses bad conversations with a 4xx problem, never calling the model', async () => {
      const { id } = (await call('POST', '/v1/conversations', {})).json();
      const long = `${'word '.repeat(MAX_CHARS / 5)}?`;
      const cases: Array<[string, string, object, number, RegExp]> = [
        ['both question and messages', '/v1/ask', { question: 'q', messages: [{ role: 'user', content: 'q' }] }, 400, /exactly one of question/],
        ['neither', '/v1/ask', { k: 2 }, 400, /exactly one of question/],
        ['messages with conversation_id', '/v1/ask', { messages: [{ role: 'user', content: 'q' }], conversation_id: id }, 400, /conversation_id goes with question/],
        ['a wrong role', '/v1/ask', { messages: [{ role: 'tool', content: 'q' }] }, 400, /role/],
        ['empty content', '/v1/ask', { messages: [{ role: 'user', content: '' }] }, 400, /content/],
        ['blank content', '/v1/ask/stream', { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: ' ' }, { role: 'user', content: 'b' }] }, 400, /content/],
        ['last message not the user\'s', '/v1/ask', { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }, 400, /last message must be a user message/],
        ['an unknown conversation', '/v1/ask', { question: 'q', conversation_id: `conv_${'0'.repeat(32)}` }, 404, /no conversation/],
        ['a conversation asked in another collection', '/v1/ask', { question: 'q', conversation_id: id, collection: 'elsewhere' }, 400, /collection "default", not "elsewhere"/],
        ['the same streamed', '/v1/ask/stream', { question: 'q', conversation_id: id, collection: 'elsewhere' }, 400, /collection "default", not "elsewhere"/],
        ['a malformed conversation id', '/v1/ask', { question: 'q', conversation_id: 'conv_1' }, 400, /conversation_id/],
        ['a question past HISTORY_MAX_CHARS in a conversation', '/v1/ask', { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: long }] }, 413, /HISTORY_MAX_CHARS/],
        ['the same through a stored conversation', '/v1/ask/stream', { question: long, conversation_id: id }, 413, /HISTORY_MAX_CHARS/],
        ['a tool message to chat completions', '/v1/chat/completions', { model: 'x', messages: [{ role: 'tool', content: 'x' }, { role: 'user', content: 'q' }] }, 400, /role "tool"/],
        ['a last assistant message to chat completions', '/v1/chat/completions', { model: 'x', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }, 400, /last message must be a user message/],
        ['an empty message to chat completions', '/v1/chat/completions', { model: 'x', messages: [{ role: 'user', content: '' }, { role: 'user', content: 'q' }] }, 400, /content is empty/],
      ];
      for (const [what, url, payload, status, detail] of cases) {
        const reply = await call('POST', url, payload);
        assert.equal(reply.statusCode, status, `${what}: ${reply.body}`);
        assert.match(reply.json().detail, detail, what);
        if (status === 413) assert.equal(reply.json().type, '/problems/conversation-too-long');
        if (/another collection|streamed/.test(what)) {
          assert.equal(reply.json().type, '/problems/conversation-collection-mismatch');
          assert.deepEqual([reply.json().collection, reply.json().conversation_collection], ['elsewhere', 'default']);
        }
      }
      assert.equal((await call('GET', `/v1/conversations/${id}`)).json().turns.length, 0, 'no turn stored from another collection');
      assert.equal(nim.requests.length, 0, 'no NIM was called for any of them');
      // A long conversation is cut, not refused: the oldest turns are dropped from the prompt.
      const turns = Array.from({ length: 12 }, (_, turn): Message[] => [
        { role: 'user', content: `Question ${turn} ${'x'.repeat(200)}` },
        { role: 'assistant', content: `Answer ${turn}` },
      ]).flat();
      const cut = await call('POST', '/v1/ask', { messages: [...turns, { role: 'user', content: TURNS[1] }] });
      assert.equal(cut.statusCode, 200, cut.body);
      const answerPrompt = nim.chatMessages().at(-1) ?? [];
      // HISTORY_MAX_TURNS (10) turns at most: turns 2 to 11, then the question.
      assert.equal(answerPrompt.length, 1 + 20 + 1);
      assert.match(answerPrompt[1]?.content ?? '', /^Question 2 /);
    });
  });
}

describe('conversations offline: the local-keywords rewriter', () => {
  let test: TestApp;
  before(async () => {
    test = await startTestApp({ EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local' });
    await test.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: CONVERSATION_DOCUMENTS } });
  });
  after(() => test.close());

  it('finds the right document for each follow-up, and says that no LLM rewrote it', async () => {
    const history: Message[] = [];
    const found: string[] = [];
    for (const question of TURNS) {
      const reply = await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { k: 2, messages: [...history, { role: 'user', content: question }] } });
      const body = reply.json();
      found.push(body.sources[0].id);
      assert.equal(body.timings.rewriter, history.length === 0 ? 'none' : 'local-keywords');
      history.push({ role: 'user', content: question }, { role: 'assistant', content: body.answer });
      if (question === TURNS[1]) assert.equal(body.standalone_query, 'And what is the weather like there? italy');
    }
    assert.deepEqual(found.slice(1), ['italy-weather', 'italy-food']);
    assert.ok(found[0]?.startsWith('italy-'));
    const health = (await test.app.inject({ method: 'GET', url: '/v1/health/ready' })).json();
    assert.equal(health.providers.rewriter, 'local-keywords');
  });

  it('chat completions offline report usage as zeros, with no model to count tokens', async () => {
    const zeros = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    const payload = { model: 'any', messages: [{ role: 'user', content: TURNS[0] }] };
    const completion = await test.app.inject({ method: 'POST', url: '/v1/chat/completions', payload });
    assert.deepEqual(completion.json().usage, zeros);
    const streamed = await test.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...payload, stream: true, stream_options: { include_usage: true } } });
    const chunks = streamed.body.split('\n').filter((line) => line.startsWith('data: {')).map((line) => JSON.parse(line.slice(6)));
    assert.deepEqual(chunks.at(-1).usage, zeros);
  });

  it('a follow-up of a follow-up searches the place named first, not the previous follow-up\'s topic', async () => {
    const messages: Message[] = [
      { role: 'user', content: 'What is Italy known for?' },
      { role: 'assistant', content: 'Its food and its summers.' },
      { role: 'user', content: 'What is the weather like there?' },
      { role: 'assistant', content: 'Hot, dry summers.' },
      { role: 'user', content: 'What food there?' },
    ];
    const body = (await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { k: 2, messages } })).json();
    assert.equal(body.standalone_query, 'What food there? italy');
    assert.deepEqual(ids(body.sources), ['italy-food', 'italy-weather']);
  });
});

describe('conversations under collection-scoped keys (API_KEYS_FILE)', () => {
  const TRAVEL = 'travel-key-0123456789abcdef';
  const OTHER = 'other-key-0123456789abcdef';
  let test: TestApp;
  const call = (key: string, url: string, payload?: object, method: 'GET' | 'POST' = 'POST') =>
    test.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });

  before(async () => {
    const file = join(await temporaryDir('conversation-keys-'), 'keys.yaml');
    await writeFile(
      file,
      `keys:\n  - name: travel\n    key: ${TRAVEL}\n    scopes: [read, write]\n    collections: [travel]\n  - name: other\n    key: ${OTHER}\n    scopes: [read, write]\n    collections: [other]\n`,
    );
    test = await startTestApp({ EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', API_KEYS_FILE: file });
    assert.equal((await call(TRAVEL, '/v1/documents', { collection: 'travel', documents: CONVERSATION_DOCUMENTS })).statusCode, 201);
  });
  after(() => test.close());

  it('a key continues its conversation in its own collection, named or not; another collection or key cannot reach it', async () => {
    assert.equal((await call(OTHER, '/v1/conversations', { collection: 'travel' })).statusCode, 403, 'a conversation only in a collection the key may touch');
    const { id } = (await call(TRAVEL, '/v1/conversations', { collection: 'travel' })).json();
    assert.equal((await call(TRAVEL, '/v1/ask', { question: TURNS[0], conversation_id: id, collection: 'travel', k: 2 })).statusCode, 200);
    const followUp = await call(TRAVEL, '/v1/ask', { question: TURNS[1], conversation_id: id, collection: 'travel', k: 2 });
    assert.equal(followUp.json().sources[0].id, 'italy-weather');
    // Without a collection, the conversation's is the one the key must be allowed.
    assert.equal((await call(TRAVEL, '/v1/ask', { question: TURNS[2], conversation_id: id, k: 2 })).json().sources[0].id, 'italy-food');
    assert.equal((await call(OTHER, `/v1/conversations/${id}`, undefined, 'GET')).statusCode, 404);
    assert.equal((await call(OTHER, '/v1/ask', { question: TURNS[2], conversation_id: id, collection: 'other' })).statusCode, 404);
    const unnamed = await call(OTHER, '/v1/ask', { question: TURNS[2], conversation_id: id });
    assert.equal(unnamed.statusCode, 404, unnamed.body);
    assert.equal(unnamed.json().type, '/problems/conversation-not-found');
    // A key's refusal for a collection it may not use comes first, as for any request.
    const refused = await call(TRAVEL, '/v1/ask', { question: TURNS[2], conversation_id: id, collection: 'other' });
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(refused.json().type, '/problems/collection-not-allowed');
    assert.equal((await call(TRAVEL, `/v1/conversations/${id}`, undefined, 'GET')).json().turns.length, 3);
  });
});
