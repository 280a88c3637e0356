/*
 * The ground @langchain/standard-tests covers for a chat model (its ChatModelUnitTests and
 * ChatModelIntegrationTests, which are not published to npm), for ChatNVIDIA against the emulated
 * NIM, asserting the emulator's deterministic answers rather than only their shapes.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { load } from '@langchain/core/load';
import { AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda } from '@langchain/core/runnables';
import type { StreamEvent } from '@langchain/core/tracers/log_stream';
import { StructuredTool } from '@langchain/core/tools';
import { toJsonSchema } from '@langchain/core/utils/json_schema';
import { z } from 'zod';
import * as nvidia from '@nim-rag/langchain-nvidia';
import { ChatNVIDIA, type ChatNVIDIAFields, NVIDIAError } from '@nim-rag/langchain-nvidia';
import { LLM_MODEL, NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const TOOL_MODEL = 'meta/llama-3.1-8b-instruct';
const VISION_MODEL = 'meta/llama-3.2-11b-vision-instruct';
const KEY = 'nvapi-standard-suite-key';
const REPLY = 'Hello, how can I help you today?';

const adderSchema = z
  .object({
    a: z.number().int().describe('The first integer to add.'),
    b: z.number().int().describe('The second integer to add.'),
  })
  .describe('Add two integers');

class AdderTool extends StructuredTool {
  name = 'AdderTool';
  description = 'Add two integers';
  schema = adderSchema;
  async _call(input: z.infer<typeof adderSchema>) {
    return JSON.stringify({ result: input.a + input.b });
  }
}

const MATH_ADDITION_PROMPT = ChatPromptTemplate.fromMessages([
  ['system', 'You are bad at math and must ALWAYS call the {toolName} function.'],
  ['human', 'What is the sum of 1836281973 and 19973286?'],
]);
const MATH_QUESTION = 'What is the sum of 1836281973 and 19973286?';

describe('ChatNVIDIA: the standard chat model tests, against the emulated NIM', () => {
  let emulator: NimEmulator;
  let args: ChatNVIDIAFields;
  const chat = (more: ChatNVIDIAFields = {}) => new ChatNVIDIA({ ...args, ...more });

  before(async () => {
    emulator = await NimEmulator.start({ models: [LLM_MODEL, TOOL_MODEL, VISION_MODEL], apiKey: KEY, reply: () => REPLY });
    // The standard tests' constructor arguments, with the package's own.
    args = { baseUrl: emulator.url, apiKey: KEY, model: TOOL_MODEL, temperature: 0, maxTokens: 100, timeout: 60_000, stopSequences: [], maxRetries: 2, logger: quiet };
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());
  const sent = () => emulator.requestsTo('/v1/chat/completions').map((request) => request.body);

  describe('unit', () => {
    it('constructs with the standard arguments, with an apiKey, and streaming', () => {
      assert.ok(chat());
      assert.equal(chat({ apiKey: 'test' }).apiKey, 'test');
      assert.equal(chat({ streaming: true }).streaming, true);
    });

    it('binds tools and structured output on a tool-calling model', () => {
      assert.ok(chat().bindTools([new AdderTool()]));
      assert.ok(chat().withStructuredOutput(adderSchema));
    });

    it('gives the LangSmith params the standard tests expect, from the model and the call', () => {
      const params = chat({ stop: ['END'] }).getLsParams({ stop: ['STOP'] });
      assert.deepEqual(Object.keys(params).sort(), ['ls_max_tokens', 'ls_model_name', 'ls_model_type', 'ls_provider', 'ls_stop', 'ls_temperature']);
      assert.deepEqual(params, {
        ls_provider: 'nvidia',
        ls_model_name: TOOL_MODEL,
        ls_model_type: 'chat',
        ls_temperature: 0,
        ls_max_tokens: 100,
        ls_stop: ['STOP'],
      });
    });

    it('throws on invoke, and yields nothing on stream, with a signal already aborted, sending nothing', async () => {
      const model: BaseChatModel = chat();
      await assert.rejects(model.invoke([new HumanMessage('hello')], { signal: AbortSignal.abort() }));
      const chunks: AIMessageChunk[] = [];
      await assert.rejects(async () => {
        for await (const chunk of await model.stream([new HumanMessage('hello')], { signal: AbortSignal.abort() })) chunks.push(chunk);
      });
      assert.equal(chunks.length, 0);
      assert.equal(sent().length, 0);
    });
  });

  describe('integration', () => {
    it('invokes: an AIMessageChunk with the text', async () => {
      const result = await chat().invoke('Hello');
      assert.ok(result instanceof AIMessageChunk);
      assert.equal(result.text, REPLY);
    });

    it('streams: AIMessageChunks whose text adds up to the answer', async () => {
      const chunks: AIMessageChunk[] = [];
      for await (const chunk of await chat().stream('Hello')) {
        assert.ok(chunk instanceof AIMessageChunk);
        assert.equal(typeof chunk.content, 'string');
        chunks.push(chunk);
      }
      assert.ok(chunks.length > 0);
      assert.equal(chunks.map((chunk) => chunk.text).join(''), REPLY);
    });

    it('batches: one answer per input, in order', async () => {
      const results = await chat().batch(['Hello', 'Hey']);
      assert.equal(results.length, 2);
      for (const result of results) {
        assert.ok(result instanceof AIMessageChunk);
        assert.equal(result.text, REPLY);
      }
      assert.deepEqual(sent().map((body) => body.messages[0].content).sort(), ['Hello', 'Hey']);
    });

    it('streams events: start, streams in the middle, an end whose output is the streamed text', async () => {
      const events: StreamEvent[] = [];
      for await (const event of chat().streamEvents('Hello', { version: 'v2' })) events.push(event);
      assert.equal(events[0]?.event, 'on_chat_model_start');
      assert.equal(events.at(-1)?.event, 'on_chat_model_end');
      assert.equal(events[Math.floor(events.length / 2)]?.event, 'on_chat_model_stream');
      const streamed = events.filter((event) => event.event === 'on_chat_model_stream').map((event) => (event.data.chunk as AIMessageChunk).text);
      assert.equal(streamed.join(''), (events.at(-1)?.data.output as AIMessageChunk).text);
    });

    it('takes conversations, doubled roles included, and sends them as they are', async () => {
      assert.equal((await chat().invoke([new HumanMessage('hello'), new AIMessage('hello'), new HumanMessage('how are you')])).text, REPLY);
      const doubled = [
        new SystemMessage('hello'),
        new SystemMessage('hello'),
        new HumanMessage('hello'),
        new HumanMessage('hello'),
        new AIMessage('hello'),
        new AIMessage('hello'),
        new HumanMessage('how are you'),
      ];
      assert.equal((await chat().invoke(doubled)).text, REPLY);
      assert.deepEqual(
        sent()[1].messages.map((message: { role: string }) => message.role),
        ['system', 'system', 'user', 'user', 'assistant', 'assistant', 'user'],
      );
    });

    it('reports usage metadata on invoke and at the end of a stream', async () => {
      const result = await chat().invoke('Hello');
      assert.deepEqual(result.usage_metadata, { input_tokens: 1, output_tokens: 7, total_tokens: 8 });
      let streamed: AIMessageChunk | undefined;
      for await (const chunk of await chat().stream('Hello')) streamed = streamed ? streamed.concat(chunk) : chunk;
      const { input_tokens, output_tokens, total_tokens } = streamed?.usage_metadata ?? {};
      assert.deepEqual({ input_tokens, output_tokens, total_tokens }, { input_tokens: 1, output_tokens: 7, total_tokens: 8 });
      assert.equal(sent()[1].stream_options.include_usage, true);
    });

    it('stops at a stop sequence given per call or to the constructor', async () => {
      assert.equal((await chat().invoke('hi', { stop: ['you'] })).text, 'Hello, how can I help ');
      assert.equal((await chat({ stop: ['you'] }).invoke('hi')).text, 'Hello, how can I help ');
      assert.deepEqual(sent().map((body) => body.stop), [['you'], ['you']]);
    });

    it('calls a tool: one call, with the tool name, JSON arguments, an id and the tool_call type', async () => {
      const query = 'What is the value of adderTool(1, 2)? Use the tool.';
      const result = await chat().bindTools([new AdderTool()]).invoke(query);
      assert.ok(result instanceof AIMessageChunk);
      assert.equal(result.tool_calls?.length, 1);
      const [call] = result.tool_calls ?? [];
      assert.equal(call?.name, 'AdderTool');
      // The emulated model fills numbers with the length of the question.
      assert.deepEqual(call?.args, { a: query.length, b: query.length });
      assert.match(call?.id ?? '', /^call-/);
      assert.equal(call?.type, 'tool_call');
      assert.deepEqual(sent()[0].tools[0].function.parameters, toJsonSchema(adderSchema));
    });

    it('binds a runnable turned into a tool, and an OpenAI-formatted tool', async () => {
      const runnableLike = RunnableLambda.from(() => undefined).asTool({ name: 'math_addition', description: 'Add two integers', schema: adderSchema });
      const fromRunnable = await MATH_ADDITION_PROMPT.pipe(chat().bindTools([runnableLike])).invoke({ toolName: 'math_addition' });
      assert.deepEqual(fromRunnable.tool_calls?.map(({ name, args, type }) => ({ name, args, type })), [
        { name: 'math_addition', args: { a: MATH_QUESTION.length, b: MATH_QUESTION.length }, type: 'tool_call' },
      ]);
      const openAITool = { type: 'function' as const, function: { name: 'math_addition', description: 'Add two integers', parameters: toJsonSchema(adderSchema) } };
      const fromOpenAI = await MATH_ADDITION_PROMPT.pipe(chat().bindTools([openAITool])).invoke({ toolName: 'math_addition' });
      assert.equal(fromOpenAI.tool_calls?.[0]?.name, 'math_addition');
      assert.deepEqual(sent()[1].tools, [openAITool]);
    });

    it('continues a conversation whose tool call came with string or list content', async () => {
      const adder = new AdderTool();
      const toolCall = { name: 'AdderTool', args: { a: 1, b: 2 }, id: 'abc123', type: 'tool_call' as const };
      const result = await adder.invoke(toolCall.args);
      const withString = [new HumanMessage('What is 1 + 2'), new AIMessage({ content: '', tool_calls: [toolCall] }), new ToolMessage(result, 'abc123', 'AdderTool')];
      const listContent = [{ type: 'text', text: 'some text' }, { type: 'tool_use', id: 'abc123', name: 'AdderTool', input: toolCall.args }];
      const withList = [new HumanMessage('What is 1 + 2'), new AIMessage({ content: listContent, tool_calls: [toolCall] }), new ToolMessage(result, 'abc123', 'AdderTool')];
      for (const history of [withString, withList]) {
        const answer = await chat().bindTools([adder]).invoke(history);
        assert.ok(answer instanceof AIMessageChunk);
        assert.equal(answer.text, REPLY);
      }
      const [first, second] = sent().map((body) => body.messages);
      const expectedCall = [{ id: 'abc123', type: 'function', function: { name: 'AdderTool', arguments: '{"a":1,"b":2}' } }];
      assert.deepEqual(first[1], { role: 'assistant', content: '', tool_calls: expectedCall });
      assert.deepEqual(second[1], { role: 'assistant', content: 'some text', tool_calls: expectedCall }, 'the tool_use part is not sent twice');
      assert.deepEqual(first[2], { role: 'tool', content: '{"result":3}', name: 'AdderTool', tool_call_id: 'abc123' });
    });

    it('streams a tool call in chunks that add up to it', async () => {
      let streamed: AIMessageChunk | undefined;
      for await (const chunk of await chat().bindTools([new AdderTool()]).stream('add 1 and 2')) streamed = streamed ? streamed.concat(chunk) : chunk;
      assert.deepEqual(streamed?.tool_calls?.map(({ name, args }) => ({ name, args })), [{ name: 'AdderTool', args: { a: 11, b: 11 } }]);
    });

    it('gives structured output by forcing the tool, and says so to tracing', async () => {
      const options: Record<string, unknown>[] = [];
      const handler = { handleChatModelStart: (_llm: unknown, _messages: unknown, _runId: string, _parent?: string, extra?: { options?: Record<string, unknown> }) => void options.push(extra?.options ?? {}) };
      const structured = MATH_ADDITION_PROMPT.pipe(chat().withStructuredOutput(adderSchema, { name: 'math_addition' }));
      assert.deepEqual(await structured.invoke({ toolName: 'math_addition' }, { callbacks: [handler] }), { a: MATH_QUESTION.length, b: MATH_QUESTION.length });
      assert.deepEqual(sent()[0].tool_choice, { type: 'function', function: { name: 'math_addition' } });
      const format = options[0]?.ls_structured_output_format as { kwargs: { method: string }; schema: Record<string, unknown> };
      assert.equal(format.kwargs.method, 'functionCalling');
      assert.deepEqual(format.schema, { title: 'math_addition', ...toJsonSchema(adderSchema) });

      const withRaw = MATH_ADDITION_PROMPT.pipe(chat().withStructuredOutput(adderSchema, { name: 'math_addition', includeRaw: true }));
      const { raw, parsed } = await withRaw.invoke({ toolName: 'math_addition' });
      assert.ok(raw instanceof AIMessageChunk);
      assert.deepEqual(parsed, { a: MATH_QUESTION.length, b: MATH_QUESTION.length });
    });

    it('sends standard text blocks, and image blocks (URL, base64, data URL) to a vision model', async () => {
      assert.equal((await chat().invoke([new HumanMessage({ content: [{ type: 'text', text: 'Hello' }] })])).text, REPLY);
      assert.equal(sent()[0].messages[0].content, 'Hello', 'text alone goes out as a string');
      const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
      const vision = chat({ model: VISION_MODEL });
      assert.equal(vision.profile.imageInputs, true);
      const images = [
        { type: 'image', source_type: 'url', url: 'https://example.com/cat.png' },
        { type: 'image', source_type: 'base64', data: png, mime_type: 'image/png' },
        { type: 'image', url: `data:image/png;base64,${png}` },
        { type: 'image', data: png, mimeType: 'image/png' },
        { type: 'image_url', image_url: { url: 'https://example.com/dog.png', detail: 'low' } },
      ];
      for (const image of images) {
        assert.equal((await vision.invoke([new HumanMessage({ content: [{ type: 'text', text: 'What is this?' }, image], name: 'ann' })])).text, REPLY);
      }
      const sentImages = sent().slice(1).map((body) => body.messages[0]);
      assert.deepEqual(sentImages[0], {
        role: 'user',
        name: 'ann',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        ],
      });
      const urls = sentImages.map((message) => message.content[1].image_url.url);
      assert.deepEqual(urls, [
        'https://example.com/cat.png',
        `data:image/png;base64,${png}`,
        `data:image/png;base64,${png}`,
        `data:image/png;base64,${png}`,
        'https://example.com/dog.png',
      ]);
      assert.equal(sentImages[4].content[1].image_url.detail, 'low');
    });

    it('lets the NIM refuse an image for a text-only model, and refuses parts it cannot send before sending', async () => {
      const image = new HumanMessage({ content: [{ type: 'text', text: 'What is this?' }, { type: 'image', url: 'https://example.com/cat.png' }] });
      await assert.rejects(chat({ model: LLM_MODEL }).invoke([image]), (error: unknown) => error instanceof NVIDIAError && error.kind === 'rejected-request' && /image input/.test(error.message));
      const audio = new HumanMessage({ content: [{ type: 'audio', data: 'AAAA', mimeType: 'audio/wav' }] });
      await assert.rejects(chat({ model: VISION_MODEL }).invoke([audio]), /sends text and image parts; a audio part cannot be sent/);
      assert.equal(sent().length, 1);
    });

    it('stops a call whose caller aborts midway, with the caller’s reason', async () => {
      const slow = await NimEmulator.start({ models: [TOOL_MODEL], chatLatencyMs: 5_000 });
      try {
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('caller left')), 30);
        await assert.rejects(chat({ baseUrl: slow.url, apiKey: undefined }).invoke('hi', { signal: controller.signal }), /caller left/);
      } finally {
        await slow.stop();
      }
    });
  });

  describe('serialisation', () => {
    const importMap = { chat_models__nvidia: nvidia };

    it('round-trips through @langchain/core/load: the key is a secret reference, the settings and endpoint come back, and it works given the secret', async () => {
      const original = chat({ temperature: 0.3, topP: 0.9, modelKwargs: { nvext: { priority: 1 } }, profile: { toolCalling: true } });
      const json = JSON.stringify(original);
      assert.ok(!json.includes(KEY), 'the key is not in the JSON');
      const serialized = JSON.parse(json);
      assert.deepEqual(serialized.id, ['langchain', 'chat_models', 'nvidia', 'ChatNVIDIA']);
      assert.deepEqual(serialized.kwargs.nvidia_api_key, { lc: 1, type: 'secret', id: ['NVIDIA_API_KEY'] });
      assert.equal(serialized.kwargs.base_url, emulator.url);
      assert.equal(serialized.kwargs.model, TOOL_MODEL);
      assert.equal(serialized.kwargs.logger, undefined, 'no logger, client or function is serialised');

      await assert.rejects(load(json, { importMap }), /Missing secret "NVIDIA_API_KEY"/);
      const loaded = await load<ChatNVIDIA>(json, { importMap, secretsMap: { NVIDIA_API_KEY: KEY } });
      assert.ok(loaded instanceof ChatNVIDIA);
      assert.deepEqual([loaded.model, loaded.baseUrl, loaded.temperature, loaded.topP, loaded.maxTokens], [TOOL_MODEL, emulator.url, 0.3, 0.9, 100]);
      assert.deepEqual(loaded.modelKwargs, { nvext: { priority: 1 } });
      assert.equal((await loaded.invoke('Hello')).text, REPLY);
      const [request] = emulator.requestsTo('/v1/chat/completions');
      assert.equal(request?.headers.authorization, `Bearer ${KEY}`);
      assert.deepEqual(request?.body.nvext, { priority: 1 });
      await loaded.close();
    });

    it('writes the key read from NVIDIA_API_KEY as the same reference, and a shared client not at all', async () => {
      const previous = process.env.NVIDIA_API_KEY;
      process.env.NVIDIA_API_KEY = KEY;
      try {
        const fromEnv = new ChatNVIDIA({ baseUrl: emulator.url, model: TOOL_MODEL, logger: quiet });
        const json = JSON.stringify(fromEnv);
        assert.ok(!json.includes(KEY));
        const loaded = await load<ChatNVIDIA>(json, { importMap, secretsFromEnv: true });
        assert.equal((await loaded.invoke('Hello')).text, REPLY);
      } finally {
        if (previous === undefined) delete process.env.NVIDIA_API_KEY;
        else process.env.NVIDIA_API_KEY = previous;
      }
      const client = new nvidia.NVIDIAClient({ baseUrl: emulator.url, apiKey: KEY, logger: quiet });
      const shared = JSON.parse(JSON.stringify(new ChatNVIDIA({ client, model: TOOL_MODEL })));
      assert.deepEqual(Object.keys(shared.kwargs).sort(), ['base_url', 'model', 'nvidia_api_key']);
      await client.close();
    });
  });
});
