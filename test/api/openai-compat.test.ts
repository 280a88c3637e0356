import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { eventViolation } from '../support/contract.js';
import { defaultReply, EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { readEvents } from '../support/sse.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

const QUESTION = 'What kinds of food is Italy known for?';

/** The sources travel beside OpenAI's own fields. */
type WithSources = { sources?: Array<{ id: string; text: string }> };

describe('OpenAI-compatible front door, driven by the official OpenAI SDK', () => {
  let embedNim: NimEmulator;
  let llmNim: NimEmulator;
  let test: TestApp;
  let base: string;
  let client: OpenAI;

  before(async () => {
    embedNim = await NimEmulator.start({ models: [EMBED_MODEL] });
    llmNim = await NimEmulator.start({ models: [LLM_MODEL] });
    test = await startTestApp({ NIM_EMBEDDINGS_URL: embedNim.url, NIM_LLM_URL: llmNim.url, NIM_MAX_RETRIES: '0', API_KEYS: 'sk-test-0123456789abcdef' });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-test-0123456789abcdef', maxRetries: 0 });
    await test.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: { authorization: 'Bearer sk-test-0123456789abcdef' },
      payload: { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) },
    });
  });
  after(async () => {
    await test.close();
    await embedNim.stop();
    await llmNim.stop();
  });
  beforeEach(() => llmNim.reset());

  // The answer's request: the last one (a follow-up's standalone query is asked for first).
  const sentToNim = () => llmNim.requestsTo('/v1/chat/completions').at(-1)?.body;

  it('lists the model that answers', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((model) => model.id), [LLM_MODEL]);
  });

  it('answers a completion from the retrieved context, with the sources beside the choices', async () => {
    const completion = await client.chat.completions.create({
      model: 'anything',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi.' },
        { role: 'user', content: QUESTION },
      ],
      temperature: 0.1,
      max_tokens: 32,
    });
    const sent = sentToNim();
    assert.equal(sent.messages.at(-1).content, QUESTION, 'the last user message is the question');
    assert.match(sent.messages[0].content, /^Answer using information solely based on the following context:/);
    assert.equal(sent.temperature, 0.1);
    assert.equal(sent.max_tokens, 32);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, LLM_MODEL);
    assert.equal(completion.choices[0]?.message.content, defaultReply(sent.messages));
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.ok((completion.usage?.total_tokens ?? 0) > 0);
    assert.equal((completion as WithSources).sources?.[0]?.id, 'doc1');
  });

  it('streams chunks the SDK assembles into the same answer, with sources first and usage last', async () => {
    const stream = await client.chat.completions.create({
      model: 'anything',
      messages: [{ role: 'user', content: QUESTION }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    assert.equal(text, defaultReply(sentToNim().messages));
    assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
    assert.equal((chunks[0] as WithSources).sources?.[0]?.id, 'doc1');
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.ok((chunks.at(-1)?.usage?.completion_tokens ?? 0) > 0);
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1, 'one id for the whole stream');
  });

  it('ends the raw stream with data: [DONE], each chunk conforming to ChatCompletionChunk', async () => {
    const response = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test-0123456789abcdef' },
      body: JSON.stringify({ model: 'x', stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: QUESTION }] }] }),
    });
    const events = await readEvents(response);
    assert.equal(events.at(-1)?.data, '[DONE]');
    for (const event of events.slice(0, -1)) assert.equal(eventViolation('ChatCompletionChunk', event.data), undefined);
    assert.equal(sentToNim().messages.at(-1).content, QUESTION, 'text content parts are read');
  });

  it('raises in the SDK when the NIM fails mid-stream', async () => {
    llmNim.failNext({ path: '/v1/chat/completions', streamErrorAfterTokens: 1 });
    const stream = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: QUESTION }], stream: true });
    await assert.rejects(
      async () => {
        for await (const chunk of stream) void chunk;
      },
      (error: Error) => /the model worker crashed/.test(error.message),
    );
  });

  it('refuses a conversation without a user message, and a wrong key, as OpenAI errors the SDK understands', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'x', messages: [{ role: 'system', content: 'Be brief.' }] }),
      (error: InstanceType<typeof OpenAI.BadRequestError>) => error.status === 400 && /user message/.test(JSON.stringify(error.error)),
    );
    const stranger = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-wrong-0123456789abcdef', maxRetries: 0 });
    await assert.rejects(stranger.models.list(), (error: InstanceType<typeof OpenAI.AuthenticationError>) => error.status === 401);
  });
});
