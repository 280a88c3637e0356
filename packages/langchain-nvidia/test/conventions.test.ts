/*
 * What a LangChain JS developer expects without reading the source, as @langchain/openai and
 * @langchain/mistralai behave: configuration, per-call options, tool choice, structured output
 * methods, retries as AsyncCaller counts them, and the hosted catalog's 202 polling.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { z } from 'zod';
import { type CallOutcome, ChatNVIDIA, type ChatNVIDIAFields, NVIDIAClient, NVIDIAEmbeddings, NVIDIAError, toolCallingModels } from '@nim-rag/langchain-nvidia';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const TOOL_MODEL = 'meta/llama-3.1-8b-instruct';
const SELF_HOSTED = 'my-org/fine-tuned-mixtral';
const REPLY = 'Pasta and pizza.';
const weather = { type: 'function' as const, function: { name: 'weather', description: 'The weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

function withEnv<T>(values: Record<string, string>, run: () => T): T {
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  Object.assign(process.env, values);
  try {
    return run();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

describe('ChatNVIDIA configuration and call options', () => {
  let emulator: NimEmulator;
  const chat = (fields: ChatNVIDIAFields = {}) => new ChatNVIDIA({ baseUrl: emulator.url, model: TOOL_MODEL, logger: quiet, ...fields });
  const sent = () => emulator.requestsTo('/v1/chat/completions').map((request) => request.body);

  before(async () => {
    emulator = await NimEmulator.start({ models: [LLM_MODEL, TOOL_MODEL, SELF_HOSTED, EMBED_MODEL], reply: () => REPLY });
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());

  it('reads NVIDIA_BASE_URL and NVIDIA_API_KEY through LangChain’s environment, and takes modelName and nvidiaApiKey', async () => {
    const fromEnv = withEnv({ NVIDIA_BASE_URL: emulator.url, NVIDIA_API_KEY: 'nvapi-env' }, () => new ChatNVIDIA({ modelName: TOOL_MODEL, logger: quiet }));
    assert.equal(fromEnv.baseUrl, emulator.url);
    assert.equal(fromEnv.model, TOOL_MODEL);
    await fromEnv.invoke('hi');
    assert.equal(emulator.requestsTo('/v1/chat/completions')[0]?.headers.authorization, 'Bearer nvapi-env');
    assert.equal(chat({ nvidiaApiKey: 'nvapi-alias' }).apiKey, 'nvapi-alias');
    const embeddings = withEnv({ NVIDIA_BASE_URL: emulator.url }, () => new NVIDIAEmbeddings({ modelName: EMBED_MODEL, logger: quiet }));
    assert.equal(embeddings.baseUrl, emulator.url);
    assert.equal(embeddings.model, EMBED_MODEL);
  });

  it('takes every generation setting per call, flat, over the model’s, and checks their ranges', async () => {
    const model = chat({ temperature: 0.1, frequencyPenalty: 0.5, maxTokens: 50 });
    await model.invoke('hi', { temperature: 0.9, presencePenalty: -1, seed: 7, stop: ['.'], topP: 0.5, maxTokens: undefined });
    assert.deepEqual(sent()[0], {
      model: TOOL_MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: false,
      max_tokens: 50,
      temperature: 0.9,
      top_p: 0.5,
      seed: 7,
      stop: ['.'],
      frequency_penalty: 0.5,
      presence_penalty: -1,
    });
    assert.throws(() => chat({ frequencyPenalty: 3 }), /frequency_penalty must be between -2 and 2/);
    await assert.rejects(model.invoke('hi', { n: 0 }), /n must be an integer between 1 and 128/);
    await assert.rejects(model.invoke('hi', { topLogprobs: 2 }), /top_logprobs needs logprobs: true/);
  });

  it('returns n completions, and logprobs in response_metadata, invoked or streamed', async () => {
    const result = await chat().generate([[{ role: 'user', content: 'hi' }]], { n: 3 });
    assert.deepEqual(result.generations[0]?.map((generation) => generation.text), [REPLY, REPLY, REPLY]);
    await assert.rejects(chat().stream('hi', { n: 2 }).then(async (stream) => stream.next()), /n = 2 completions cannot be streamed/);

    const withLogprobs = await chat().invoke('hi', { logprobs: true, topLogprobs: 2 });
    const content = (withLogprobs.response_metadata.logprobs as { content: Array<{ token: string; top_logprobs: unknown[] }> }).content;
    assert.deepEqual(content.map((entry) => entry.token), ['Pasta ', 'and ', 'pizza.']);
    assert.equal(content[0]?.top_logprobs.length, 2);
    assert.deepEqual([sent().at(-1)?.logprobs, sent().at(-1)?.top_logprobs], [true, 2]);

    let streamed: Awaited<ReturnType<ChatNVIDIA['invoke']>> | undefined;
    for await (const chunk of await chat().stream('hi', { logprobs: true })) streamed = streamed ? streamed.concat(chunk) : chunk;
    assert.equal(streamed?.text, REPLY);
    assert.deepEqual((streamed?.response_metadata.logprobs as { content: Array<{ token: string }> }).content.map((entry) => entry.token), ['Pasta ', 'and ', 'pizza.']);
  });

  it('sends modelKwargs for what NIM takes beyond OpenAI’s schema, a call’s deep-merged over the model’s', async () => {
    const model = chat({ modelKwargs: { nvext: { priority: 2, repetition_penalty: 1.1 }, chat_template_kwargs: { thinking: false } } });
    await model.invoke('hi', { modelKwargs: { nvext: { priority: 5 }, chat_template_kwargs: { thinking: true } } });
    assert.deepEqual(sent()[0].nvext, { priority: 5, repetition_penalty: 1.1 });
    assert.deepEqual(sent()[0].chat_template_kwargs, { thinking: true });
    await model.invoke('hi', { modelKwargs: { temperature: 2 }, temperature: 0.3 });
    assert.equal(sent()[1].temperature, 0.3, 'a named setting wins over modelKwargs');
  });

  it('sends LangChain’s tool_choice "any" as "required", a tool’s name as the object that forces it', async () => {
    await chat().bindTools([weather], { tool_choice: 'any' }).invoke('Rome');
    await chat().bindTools([weather], { tool_choice: 'weather' }).invoke('Rome');
    assert.deepEqual(sent().map((body) => body.tool_choice), ['required', { type: 'function', function: { name: 'weather' } }]);
    // The emulated NIM refuses what a real one refuses: "any" sent as it is would be a 422.
    await assert.rejects(
      new NVIDIAClient({ baseUrl: emulator.url, logger: quiet }).postJson('/chat/completions', { model: TOOL_MODEL, messages: [{ role: 'user', content: 'x' }], tools: [weather], tool_choice: 'any' }, { model: TOOL_MODEL }),
      (error: unknown) => error instanceof NVIDIAError && error.upstreamStatus === 422,
    );
  });

  it('refuses tools on the default Mixtral, naming tool-capable models, and takes them once a self-hosted model declares it can', async () => {
    const mixtral = chat({ model: LLM_MODEL });
    assert.equal(mixtral.profile.toolCalling, false);
    for (const attempt of [() => mixtral.bindTools([weather]), () => mixtral.withStructuredOutput(z.object({ city: z.string() }))]) {
      assert.throws(attempt, (error: unknown) => {
        assert.ok(error instanceof NVIDIAError);
        assert.equal(error.kind, 'unsupported');
        assert.match(error.message, new RegExp(`model ${LLM_MODEL.replace(/[.]/g, '\\.')} does not support tool calling`));
        assert.match(error.message, /meta\/llama-3\.1-8b-instruct/);
        assert.match(error.message, /profile: \{ toolCalling: true \}/);
        return true;
      });
    }
    assert.ok(toolCallingModels().includes('meta/llama-3.3-70b-instruct'));
    assert.deepEqual(chat({ model: SELF_HOSTED }).profile, {}, 'the table does not know a self-hosted model: nothing is refused');
    const declared = chat({ model: LLM_MODEL, profile: { toolCalling: true } });
    assert.equal(declared.profile.toolCalling, true);
    const call = await declared.bindTools([weather]).invoke('Rome');
    assert.deepEqual(call.tool_calls?.[0]?.args, { city: 'Rome' });
  });

  it('gives structured output by JSON mode, JSON schema and guided_json, which need no tool calling', async () => {
    const schema = z.object({ city: z.string(), population: z.number() });
    const mixtral = chat({ model: LLM_MODEL });
    assert.deepEqual(await mixtral.withStructuredOutput(schema, { method: 'guidedJson' }).invoke('Rome'), { city: 'Rome', population: 4 });
    assert.deepEqual(sent()[0].nvext.guided_json.properties, { city: { type: 'string' }, population: { type: 'number' } });
    assert.deepEqual(await mixtral.withStructuredOutput(schema, { method: 'jsonSchema', name: 'place' }).invoke('Rome'), { city: 'Rome', population: 4 });
    assert.equal(sent()[1].response_format.type, 'json_schema');
    assert.equal(sent()[1].response_format.json_schema.name, 'place');
    const jsonMode = await mixtral.withStructuredOutput(z.object({ answer: z.string() }), { method: 'jsonMode' }).invoke('Rome');
    assert.deepEqual(jsonMode, { answer: 'Emulated answer from: nothing' });
    assert.deepEqual(sent()[2].response_format, { type: 'json_object' });
    const { raw, parsed } = await mixtral.withStructuredOutput(schema, { method: 'guidedJson', includeRaw: true }).invoke('Rome');
    assert.equal(raw.text, '{"city":"Rome","population":4}');
    assert.deepEqual(parsed, { city: 'Rome', population: 4 });
    assert.throws(() => mixtral.withStructuredOutput(schema, { method: 'xml' }), /method must be functionCalling, jsonMode, jsonSchema or guidedJson/);
  });
});

describe('retries, as LangChain’s AsyncCaller counts them, and hooks', () => {
  let emulator: NimEmulator;

  before(async () => {
    emulator = await NimEmulator.start({ models: [TOOL_MODEL, EMBED_MODEL], reply: () => REPLY });
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());
  const client = (fields: Partial<ConstructorParameters<typeof NVIDIAClient>[0]> = {}) =>
    new NVIDIAClient({ baseUrl: emulator.url, logger: quiet, retryBaseDelayMs: 1, pollingUrl: emulator.pollingUrl, pollIntervalMs: 1, ...fields });

  it('retries six times by default, as every LangChain model does', async () => {
    emulator.failNext({ path: '/v1/embeddings', status: 503, times: 10 });
    const embeddings = new NVIDIAEmbeddings({ client: client(), model: EMBED_MODEL });
    await assert.rejects(embeddings.embedQuery('x'), (error: unknown) => error instanceof NVIDIAError && error.kind === 'busy');
    assert.equal(emulator.requestsTo('/v1/embeddings').length, 7);
  });

  it('tells onFailedAttempt each failed attempt; throwing from it stops the retries with its error', async () => {
    const seen: Array<number | undefined> = [];
    emulator.failNext({ path: '/v1/chat/completions', status: 500, times: 3 });
    const chat = new ChatNVIDIA({
      baseUrl: emulator.url,
      model: TOOL_MODEL,
      logger: quiet,
      onFailedAttempt: (error) => {
        seen.push(error.status);
        if (seen.length === 2) throw new Error('enough');
      },
    });
    await assert.rejects(chat.invoke('hi'), /^Error: enough$/);
    assert.deepEqual(seen, [500, 500]);
    assert.equal(emulator.requestsTo('/v1/chat/completions').length, 2);
  });

  it('cannot make a failure the client does not retry retryable: a 400 is tried once, and the handler still hears of it', async () => {
    const seen: string[] = [];
    emulator.failNext({ path: '/v1/chat/completions', status: 400, body: { error: 'bad' } });
    const chat = new ChatNVIDIA({ baseUrl: emulator.url, model: TOOL_MODEL, logger: quiet, onFailedAttempt: (error) => void seen.push(error.kind) });
    await assert.rejects(chat.invoke('hi'), (error: unknown) => error instanceof NVIDIAError && error.kind === 'rejected-request');
    assert.deepEqual(seen, ['rejected-request']);
  });

  it('applies a model’s own maxRetries to its calls through a shared client', async () => {
    const shared = client({ maxRetries: 5 });
    emulator.failNext({ path: '/v1/chat/completions', status: 502, times: 10 });
    await assert.rejects(new ChatNVIDIA({ client: shared, model: TOOL_MODEL, maxRetries: 1 }).invoke('hi'));
    assert.equal(emulator.requestsTo('/v1/chat/completions').length, 2);
  });

  it('tells the hooks about each attempt and how each call ended, a caller’s abort excepted', async () => {
    const attempts: string[] = [];
    const outcomes: CallOutcome[] = [];
    let paced = 0;
    const hooked = client({
      hooks: {
        beforeAttempt: async () => void (paced += 1),
        onAttempt: ({ status }) => void attempts.push(status),
        onCallEnd: (outcome) => void outcomes.push(outcome),
      },
    });
    emulator.failNext({ path: '/v1/embeddings', status: 429, retryAfter: '0' });
    const embeddings = new NVIDIAEmbeddings({ client: hooked, model: EMBED_MODEL });
    await embeddings.embedQuery('x');
    await assert.rejects(embeddings.embedQuery('x', { signal: AbortSignal.abort() }));
    assert.deepEqual(attempts, ['429', '200']);
    assert.equal(paced, 2);
    assert.deepEqual(outcomes, [{ endpoint: '/embeddings', model: EMBED_MODEL, error: undefined }]);
  });

  it('polls a 202 until the result, fails a 202 with no NVCF-REQID, and gives up past pollTimeoutMs', async () => {
    const polling = client();
    emulator.failNext({ path: '/v1/chat/completions', accepted: 3 });
    const chat = new ChatNVIDIA({ client: polling, model: TOOL_MODEL });
    assert.equal((await chat.invoke('hi')).text, REPLY);
    assert.deepEqual(
      emulator.requests.map((request) => request.path.replace(/nvcf-\d+/, 'ID')),
      ['/v1/chat/completions', ...Array(4).fill('/v2/nvcf/pexec/status/ID')],
    );

    emulator.failNext({ path: '/v1/chat/completions', status: 202, body: {} });
    await assert.rejects(chat.invoke('hi'), /HTTP 202 without an NVCF-REQID header to poll/);

    // As in the Python package, a stream is not polled: NVCF answers streams directly.
    emulator.failNext({ path: '/v1/chat/completions', accepted: 1 });
    await assert.rejects(chat.stream('hi').then((stream) => stream.next()), /expected an event stream \(HTTP 202, NVCF-REQID nvcf-\d+\)/);

    const impatient = new ChatNVIDIA({ client: client({ pollTimeoutMs: 20, pollIntervalMs: 10 }), model: TOOL_MODEL });
    emulator.failNext({ path: '/v1/chat/completions', accepted: 1000 });
    await assert.rejects(impatient.invoke('hi'), (error: unknown) => error instanceof NVIDIAError && error.kind === 'timeout' && /no result within 20 ms \(pollTimeoutMs; NVCF-REQID nvcf-\d+\)/.test(error.message));
  });
});
