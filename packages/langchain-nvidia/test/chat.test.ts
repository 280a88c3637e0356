import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { HumanMessage, SystemMessage, ToolMessage, type AIMessageChunk } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { ChatNVIDIA, NVIDIAError } from '@nim-rag/langchain-nvidia';
import { LLM_MODEL, NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const TOOL_MODEL = 'meta/llama-3.1-8b-instruct';

describe('ChatNVIDIA against the emulator', () => {
  let emulator: NimEmulator;

  before(async () => {
    emulator = await NimEmulator.start({ models: [LLM_MODEL, TOOL_MODEL], reply: () => 'Italy is known for pasta and pizza.' });
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());

  it('answers with usage_metadata and LangChain token usage, from the model fields and call options', async () => {
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: LLM_MODEL, temperature: 0.2, maxTokens: 64, logger: quiet });
    const message = await chat.invoke([new SystemMessage('Be brief.'), new HumanMessage('Food of Italy?')], { stop: ['\n\n'] });
    assert.equal(message.content, 'Italy is known for pasta and pizza.');
    assert.deepEqual(message.usage_metadata, { input_tokens: 7, output_tokens: 7, total_tokens: 14 });
    const [request] = emulator.requestsTo('/v1/chat/completions');
    assert.equal(request?.body.temperature, 0.2);
    assert.equal(request?.body.max_tokens, 64);
    assert.deepEqual(request?.body.stop, ['\n\n']);
    assert.deepEqual(request?.body.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Food of Italy?' },
    ]);
    await chat.close();
  });

  it('streams token by token and ends with the usage chunk', async () => {
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: LLM_MODEL, logger: quiet });
    const chunks: AIMessageChunk[] = [];
    for await (const chunk of await chat.stream('Food of Italy?')) chunks.push(chunk);
    assert.equal(chunks.map((chunk) => chunk.text).join(''), 'Italy is known for pasta and pizza.');
    assert.deepEqual(chunks.at(-1)?.usage_metadata, { input_tokens: 4, output_tokens: 7, total_tokens: 11 });
    assert.equal(emulator.requestsTo('/v1/chat/completions')[0]?.body.stream_options.include_usage, true);
    await chat.close();
  });

  it('streams inside invoke with streaming: true, telling the callbacks each piece, and returns the whole message', async () => {
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: LLM_MODEL, streaming: true, logger: quiet });
    const pieces: string[] = [];
    const message = await chat.invoke('Food of Italy?', { callbacks: [{ handleLLMNewToken: (token: string) => void pieces.push(token) }] });
    assert.equal(emulator.requestsTo('/v1/chat/completions')[0]?.body.stream, true);
    assert.ok(pieces.length > 0);
    assert.equal(pieces.join(''), 'Italy is known for pasta and pizza.');
    assert.equal(message.content, 'Italy is known for pasta and pizza.');
    const { input_tokens, output_tokens, total_tokens } = message.usage_metadata ?? {};
    assert.deepEqual({ input_tokens, output_tokens, total_tokens }, { input_tokens: 4, output_tokens: 7, total_tokens: 11 });
    assert.equal(message.response_metadata.finish_reason, 'stop');
    const plain = await chat.invoke('Food of Italy?', { streaming: false });
    assert.equal(emulator.requestsTo('/v1/chat/completions')[1]?.body.stream, false, 'a call option turns it off');
    assert.equal(plain.content, message.content);
    await chat.close();
  });

  it('follows the partner-package conventions: identifying and LangSmith params, secrets', () => {
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: LLM_MODEL, temperature: 0.5, maxTokens: 100, stop: ['END'], logger: quiet });
    assert.deepEqual(chat._identifyingParams(), { model_name: LLM_MODEL, model: LLM_MODEL, max_tokens: 100, temperature: 0.5, stop: ['END'] });
    const ls = chat.getLsParams({});
    assert.equal(ls.ls_provider, 'nvidia');
    assert.equal(ls.ls_model_name, LLM_MODEL);
    assert.equal(ls.ls_temperature, 0.5);
    assert.equal(ls.ls_max_tokens, 100);
    assert.deepEqual(chat.lc_secrets, { apiKey: 'NVIDIA_API_KEY' });
    assert.throws(() => new ChatNVIDIA({ baseUrl: emulator.url, temperature: 3, logger: quiet }), RangeError);
  });

  it('stops when the caller aborts, with the caller’s reason', async () => {
    const slow = await NimEmulator.start({ chatLatencyMs: 5_000 });
    const chat = new ChatNVIDIA({ baseUrl: slow.url, model: LLM_MODEL, logger: quiet });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('caller left')), 50);
    await assert.rejects(chat.invoke('hi', { signal: controller.signal }), /caller left/);
    await chat.close();
    await slow.stop();
  });

  it('calls tools, sends tool results back, and gives structured output on a tool-calling model', async () => {
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: TOOL_MODEL, logger: quiet });
    const lookup = tool(async ({ city }: { city: string }) => `cold in ${city}`, {
      name: 'weather',
      description: 'The weather in a city',
      schema: z.object({ city: z.string() }),
    });
    const question = new HumanMessage('Komchatka');
    const call = await chat.bindTools([lookup]).invoke([question]);
    assert.deepEqual(call.tool_calls?.map(({ name, args }) => ({ name, args })), [{ name: 'weather', args: { city: 'Komchatka' } }]);
    const request = emulator.requestsTo('/v1/chat/completions')[0];
    assert.equal(request?.body.tools[0].function.name, 'weather');

    const answer = await chat.bindTools([lookup]).invoke([question, call, new ToolMessage({ content: 'cold', tool_call_id: call.tool_calls?.[0]?.id ?? '' })]);
    assert.equal(answer.content, 'Italy is known for pasta and pizza.');
    const sent = emulator.requestsTo('/v1/chat/completions')[1]?.body.messages;
    assert.equal(sent[1].tool_calls[0].function.arguments, '{"city":"Komchatka"}');
    assert.deepEqual(sent[2], { role: 'tool', content: 'cold', tool_call_id: call.tool_calls?.[0]?.id });

    let streamed: AIMessageChunk | undefined;
    for await (const chunk of await chat.bindTools([lookup]).stream([question])) streamed = streamed ? streamed.concat(chunk) : chunk;
    assert.deepEqual(streamed?.tool_calls?.map(({ name, args }) => ({ name, args })), [{ name: 'weather', args: { city: 'Komchatka' } }]);

    const structured = await chat.withStructuredOutput(z.object({ topic: z.string(), length: z.number() })).invoke('pasta');
    assert.deepEqual(structured, { topic: 'pasta', length: 5 });
    await chat.close();
  });

  it('refuses tools on a catalog model without tool calling, naming the model', () => {
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: LLM_MODEL, logger: quiet });
    assert.throws(
      () => chat.withStructuredOutput(z.object({ topic: z.string() })),
      (error: unknown) => error instanceof NVIDIAError && error.kind === 'unsupported' && error.message.includes(LLM_MODEL),
    );
  });
});
