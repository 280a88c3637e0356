import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import type { BaseLanguageModelInput, StructuredOutputMethodOptions } from '@langchain/core/language_models/base';
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
  type BindToolsInput,
  type LangSmithParams,
} from '@langchain/core/language_models/chat_models';
import type { ModelProfile } from '@langchain/core/language_models/profile';
import {
  assembleStructuredOutputPipeline,
  createContentParser,
  createFunctionCallingParser,
} from '@langchain/core/language_models/structured_output';
import { AIMessageChunk, type BaseMessage, type InvalidToolCall, type ToolCall, type ToolCallChunk, type UsageMetadata } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatGeneration, type ChatResult } from '@langchain/core/outputs';
import type { Runnable } from '@langchain/core/runnables';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { toJsonSchema } from '@langchain/core/utils/json_schema';
import { isSerializableSchema, type SerializableSchema } from '@langchain/core/utils/standard_schema';
import { getSchemaDescription, type InteropZodType, isInteropZodSchema } from '@langchain/core/utils/types';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { FailedAttemptHandler } from './client.js';
import {
  CONNECTION_ALIASES,
  CONNECTION_SECRETS,
  CONNECTION_SERIALIZABLE_KEYS,
  type NVIDIAConnectionFields,
  NVIDIAEndpoint,
} from './endpoint.js';
import { NVIDIAError } from './errors.js';
import { wireMessage } from './messages.js';
import { DEFAULT_CHAT_MODEL, knownProfile, toolCallingModels } from './models.js';

/** The generation settings a model is built with, and each of which one call may override. */
export interface GenerationOptions {
  /** 0 to 2. Default: the NIM's. */
  temperature?: number | undefined;
  /** 0 to 1. Default: the NIM's. */
  topP?: number | undefined;
  /** Default 1024. */
  maxTokens?: number | undefined;
  seed?: number | undefined;
  stop?: string[] | undefined;
  /** -2 to 2. Default: the NIM's. */
  frequencyPenalty?: number | undefined;
  /** -2 to 2. Default: the NIM's. */
  presencePenalty?: number | undefined;
  /** Completions to generate, 1 to 128; more than one cannot be streamed. Default: the NIM's (1). */
  n?: number | undefined;
  /** Return the log probability of each output token (in `response_metadata.logprobs`). */
  logprobs?: boolean | undefined;
  /** With `logprobs`: the most likely alternatives at each position, 0 to 20. */
  topLogprobs?: number | undefined;
  /**
   * Extra fields of the request body, for what NIM takes beyond the OpenAI schema: `nvext`
   * (`guided_json`, `guided_regex`, `priority`…), `chat_template_kwargs` (such as `{ thinking: true }`),
   * top-level `guided_json`. A call's are deep-merged over the model's; the settings above win over both.
   */
  modelKwargs?: Record<string, unknown> | undefined;
}

/** A tool as the OpenAI-compatible API takes it. */
export interface OpenAITool {
  type: 'function';
  function: { name: string; description?: string | undefined; parameters?: unknown; strict?: boolean | undefined };
}

/** `auto`, `none`, `required` (or LangChain's `any`, sent as `required`), a tool's name, or the OpenAI object naming one. */
export type ToolChoice = string | { type: 'function'; function: { name: string } };

export interface ChatNVIDIACallOptions extends BaseChatModelCallOptions, GenerationOptions {
  tools?: BindToolsInput[] | undefined;
  tool_choice?: ToolChoice | undefined;
  /** OpenAI's `response_format`: `{ type: "json_object" }` or `{ type: "json_schema", json_schema }`. */
  response_format?: Record<string, unknown> | undefined;
  /** Overrides the model's `streaming` for one call. */
  streaming?: boolean | undefined;
}

export interface ChatNVIDIAFields extends BaseChatModelParams, GenerationOptions, NVIDIAConnectionFields {
  /** Default `mistralai/mixtral-8x7b-instruct-v0.1` on the hosted catalog; on a self-hosted NIM, the model it serves. */
  model?: string | undefined;
  /** The same as `model`, as `@langchain/openai` accepts it. */
  modelName?: string | undefined;
  /** The same as `stop`, as `@langchain/openai` accepts it. */
  stopSequences?: string[] | undefined;
  /** Ask for token counts at the end of a stream (`stream_options.include_usage`). Default true. */
  streamUsage?: boolean | undefined;
  /**
   * As in `@langchain/openai`: `invoke` streams from the NIM and reports each piece to the
   * callbacks' `handleLLMNewToken` as it arrives, then returns the whole message. Default false.
   */
  streaming?: boolean | undefined;
  /**
   * What this model can do, in LangChain's ModelProfile terms (`toolCalling`, `imageInputs`, …), over
   * what the package's table says of it: how a self-hosted model the table does not know, or knows
   * otherwise, declares its capabilities.
   */
  profile?: ModelProfile | undefined;
  onFailedAttempt?: FailedAttemptHandler | undefined;
}

interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

interface WireToolCall {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

interface WireChoice {
  index?: number;
  message?: { content?: string | null; tool_calls?: WireToolCall[] | null };
  finish_reason?: string | null;
  logprobs?: unknown;
}

interface CompletionResponse {
  id?: string;
  choices?: WireChoice[];
  usage?: OpenAIUsage | null;
}

interface CompletionChunk {
  id?: string;
  choices?: Array<{ delta?: { content?: string | null; tool_calls?: WireToolCall[] | null }; finish_reason?: string | null; logprobs?: unknown }>;
  usage?: OpenAIUsage | null;
  error?: unknown;
}

const GENERATION_KEYS = ['temperature', 'topP', 'maxTokens', 'seed', 'stop', 'frequencyPenalty', 'presencePenalty', 'n', 'logprobs', 'topLogprobs'] as const;

/** Checks generation settings against the ranges the OpenAI schema allows; throws RangeError. */
function validateGeneration(options: GenerationOptions): void {
  const check = (name: string, value: number | undefined, min: number, max: number, integer = false) => {
    if (value === undefined) return;
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new RangeError(`${name} must be ${integer ? 'an integer ' : ''}between ${min} and ${max}, got ${value}`);
    }
  };
  check('temperature', options.temperature, 0, 2);
  check('top_p', options.topP, 0, 1);
  check('max_tokens', options.maxTokens, 1, 1_000_000, true);
  check('seed', options.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  check('frequency_penalty', options.frequencyPenalty, -2, 2);
  check('presence_penalty', options.presencePenalty, -2, 2);
  check('n', options.n, 1, 128, true);
  check('top_logprobs', options.topLogprobs, 0, 20, true);
  if (options.topLogprobs !== undefined && !options.logprobs) throw new RangeError('top_logprobs needs logprobs: true');
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `over` merged into `base`, objects within objects merged too, so a call's `nvext` adds to the model's. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return merged;
}

function usageOf(usage: OpenAIUsage | null | undefined): UsageMetadata | undefined {
  if (!usage) return undefined;
  const input = usage.prompt_tokens ?? 0;
  const output = usage.completion_tokens ?? 0;
  return { input_tokens: input, output_tokens: output, total_tokens: usage.total_tokens ?? input + output };
}

function toolCallsOf(wire: WireToolCall[] | null | undefined): { toolCalls: ToolCall[]; invalid: InvalidToolCall[] } {
  const toolCalls: ToolCall[] = [];
  const invalid: InvalidToolCall[] = [];
  for (const call of wire ?? []) {
    const name = call.function?.name ?? '';
    const args = call.function?.arguments ?? '';
    try {
      toolCalls.push({ id: call.id, name, args: args ? (JSON.parse(args) as Record<string, unknown>) : {}, type: 'tool_call' });
    } catch {
      invalid.push({ id: call.id, name, args, error: 'arguments are not JSON', type: 'invalid_tool_call' });
    }
  }
  return { toolCalls, invalid };
}

/** LangChain's `any` is the API's `required`; a bare tool name becomes the object that forces that tool. */
function toolChoiceOf(choice: ToolChoice): ToolChoice {
  if (choice === 'any') return 'required';
  if (typeof choice !== 'string' || ['auto', 'none', 'required'].includes(choice)) return choice;
  return { type: 'function', function: { name: choice } };
}

const tokenUsageOf = (usage: UsageMetadata | undefined) =>
  usage ? { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens } : undefined;

/**
 * A LangChain chat model over a NIM's OpenAI-compatible `/chat/completions`, with real token
 * streaming over SSE, tool calling, structured output (forced tool, JSON mode, JSON schema or NIM's
 * guided_json), images for vision-language models, and token usage in LangChain's shape. An error
 * object a NIM sends inside the stream is raised as an NVIDIAError, not swallowed.
 */
export class ChatNVIDIA extends BaseChatModel<ChatNVIDIACallOptions, AIMessageChunk> {
  static override lc_name(): string {
    return 'ChatNVIDIA';
  }

  override lc_serializable = true;
  override lc_namespace = ['langchain', 'chat_models', 'nvidia'];

  temperature: number | undefined;
  topP: number | undefined;
  maxTokens: number;
  seed: number | undefined;
  stop: string[] | undefined;
  frequencyPenalty: number | undefined;
  presencePenalty: number | undefined;
  n: number | undefined;
  logprobs: boolean | undefined;
  topLogprobs: number | undefined;
  modelKwargs: Record<string, unknown>;
  streamUsage: boolean;
  streaming: boolean;
  private readonly declaredProfile: ModelProfile;
  private readonly endpoint: NVIDIAEndpoint;

  override get lc_secrets(): Record<string, string> {
    return CONNECTION_SECRETS;
  }

  override get lc_aliases(): Record<string, string> {
    return CONNECTION_ALIASES;
  }

  override get lc_serializable_keys(): string[] {
    return [...GENERATION_KEYS, 'modelKwargs', 'streamUsage', 'streaming', 'profile', 'verbose', 'tags', 'metadata', ...CONNECTION_SERIALIZABLE_KEYS];
  }

  override get callKeys(): string[] {
    return [...super.callKeys, ...GENERATION_KEYS, 'modelKwargs', 'tools', 'tool_choice', 'response_format', 'streaming'];
  }

  constructor(fields: ChatNVIDIAFields = {}) {
    super(fields);
    this.endpoint = new NVIDIAEndpoint({ ...fields, model: fields.model ?? fields.modelName }, DEFAULT_CHAT_MODEL, 'chat');
    this.temperature = fields.temperature;
    this.topP = fields.topP;
    this.maxTokens = fields.maxTokens ?? 1024;
    this.seed = fields.seed;
    this.stop = fields.stop ?? fields.stopSequences;
    this.frequencyPenalty = fields.frequencyPenalty;
    this.presencePenalty = fields.presencePenalty;
    this.n = fields.n;
    this.logprobs = fields.logprobs;
    this.topLogprobs = fields.topLogprobs;
    this.modelKwargs = fields.modelKwargs ?? {};
    this.streamUsage = fields.streamUsage ?? true;
    this.streaming = fields.streaming ?? false;
    this.declaredProfile = fields.profile ?? {};
    validateGeneration(this);
    // Serialisation reads both from the instance when it runs (a discovered model included), so that
    // a model loaded from JSON calls what this one calls.
    this.lc_kwargs = { ...this.lc_kwargs, baseUrl: this.baseUrl, model: this.model };
  }

  /** The model name; empty until a self-hosted NIM given none has been asked (on the first call). */
  get model(): string {
    return this.endpoint.model;
  }

  get baseUrl(): string {
    return this.endpoint.client.baseUrl;
  }

  /** The key this model sends, if any; serialisation writes it as a reference to `NVIDIA_API_KEY`, never its value. */
  get apiKey(): string | undefined {
    return this.endpoint.client.apiKey;
  }

  /** What the package's table says this model can do, with what the caller declared (`profile`) over it. */
  override get profile(): ModelProfile {
    return { ...knownProfile(this.model), ...this.declaredProfile };
  }

  _llmType(): string {
    return 'chat-nvidia';
  }

  /** Closes the kept-alive connections of a client this instance made itself. */
  async close(): Promise<void> {
    if (this.endpoint.ownsClient) await this.endpoint.client.close();
  }

  override getLsParams(options: this['ParsedCallOptions']): LangSmithParams {
    const params = this.invocationParams(options);
    return {
      ls_provider: 'nvidia',
      ls_model_name: this.model,
      ls_model_type: 'chat',
      ls_temperature: params.temperature as number | undefined,
      ls_max_tokens: params.max_tokens as number | undefined,
      ls_stop: params.stop as string[] | undefined,
    };
  }

  /** The request body's settings for one call: the model's fields overridden by the call's, over `modelKwargs`. */
  override invocationParams(options?: this['ParsedCallOptions']): Record<string, unknown> {
    const settings: GenerationOptions = {};
    for (const key of GENERATION_KEYS) {
      const value = options?.[key] ?? this[key];
      if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
    }
    validateGeneration(settings);
    const tools = options?.tools?.map((tool) => convertToOpenAITool(tool));
    const wire: Record<string, unknown> = {
      model: this.model,
      max_tokens: settings.maxTokens,
      temperature: settings.temperature,
      top_p: settings.topP,
      seed: settings.seed,
      stop: settings.stop?.length ? settings.stop : undefined,
      frequency_penalty: settings.frequencyPenalty,
      presence_penalty: settings.presencePenalty,
      n: settings.n,
      logprobs: settings.logprobs,
      top_logprobs: settings.topLogprobs,
      tools: tools?.length ? tools : undefined,
      tool_choice: options?.tool_choice !== undefined ? toolChoiceOf(options.tool_choice) : undefined,
      response_format: options?.response_format,
    };
    const extra = deepMerge(this.modelKwargs, options?.modelKwargs ?? {});
    return { ...extra, ...Object.fromEntries(Object.entries(wire).filter(([, value]) => value !== undefined)) };
  }

  override _identifyingParams() {
    return { model_name: this.model, ...this.invocationParams() };
  }

  /**
   * Tools in any LangChain form (structured tools, zod or JSON schemas, OpenAI tool definitions). A
   * model whose profile says it has no tool calling (the table's Mixtral, Llama 2, Gemma…) fails here,
   * naming the models that have it.
   */
  override bindTools(tools: BindToolsInput[], kwargs?: Partial<ChatNVIDIACallOptions>): Runnable<BaseLanguageModelInput, AIMessageChunk, ChatNVIDIACallOptions> {
    this.assertToolCalling('tool calling');
    return this.withConfig({ tools, ...kwargs });
  }

  private assertToolCalling(what: string): void {
    if (this.profile.toolCalling !== false) return;
    const capable = toolCallingModels();
    throw new NVIDIAError({
      kind: 'unsupported',
      model: this.model,
      url: this.baseUrl,
      nimMessage: '',
      message:
        `model ${this.model} does not support ${what} (the NVIDIA API catalog serves it without tools); ` +
        `choose a model that does, such as ${capable.slice(0, 4).join(', ')} (all: ${capable.join(', ')}), ` +
        `use withStructuredOutput(schema, { method: 'guidedJson' }) for structured output, ` +
        `or, for a self-hosted model that has it, declare it with profile: { toolCalling: true }`,
    });
  }

  /**
   * Structured output, by one of four methods: `functionCalling` (the default: the schema as a tool,
   * forced with tool_choice), `jsonMode` (`response_format: json_object`; the prompt must ask for the
   * JSON), `jsonSchema` (`response_format: json_schema`), or `guidedJson` (NIM's guided decoding,
   * `nvext.guided_json`, which works on every NIM LLM, tool calling or not).
   */
  override withStructuredOutput<RunOutput extends Record<string, unknown> = Record<string, unknown>>(
    outputSchema: InteropZodType<RunOutput> | SerializableSchema<RunOutput> | Record<string, unknown>,
    config?: StructuredOutputMethodOptions<false>,
  ): Runnable<BaseLanguageModelInput, RunOutput>;

  override withStructuredOutput<RunOutput extends Record<string, unknown> = Record<string, unknown>>(
    outputSchema: InteropZodType<RunOutput> | SerializableSchema<RunOutput> | Record<string, unknown>,
    config?: StructuredOutputMethodOptions<true>,
  ): Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }>;

  override withStructuredOutput<RunOutput extends Record<string, unknown> = Record<string, unknown>>(
    outputSchema: InteropZodType<RunOutput> | SerializableSchema<RunOutput> | Record<string, unknown>,
    config?: StructuredOutputMethodOptions<boolean>,
  ): Runnable<BaseLanguageModelInput, RunOutput> | Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }> {
    const schema = outputSchema as Record<string, unknown>;
    const method = config?.method ?? 'functionCalling';
    const typed = isInteropZodSchema(schema) || isSerializableSchema(schema);
    const asJsonSchema = (typed ? toJsonSchema(schema) : schema) as Record<string, unknown>;
    let name = config?.name ?? 'extract';
    let llm: Runnable<BaseLanguageModelInput, AIMessageChunk>;
    let parser: Runnable<AIMessageChunk, RunOutput>;
    const traced = (kwargsMethod: string) => ({ kwargs: { method: kwargsMethod }, schema: { title: name, ...asJsonSchema } });
    if (method === 'functionCalling') {
      this.assertToolCalling('tool calling, which withStructuredOutput uses by default');
      let definition: OpenAITool['function'];
      if (!typed && typeof schema.name === 'string' && isPlainObject(schema.parameters)) {
        definition = schema as unknown as OpenAITool['function'];
        name = schema.name;
      } else {
        name = config?.name ?? (!typed && typeof schema.title === 'string' ? schema.title : name);
        definition = { name, description: getSchemaDescription(schema) ?? '', parameters: asJsonSchema };
      }
      if (config?.strict !== undefined) definition = { ...definition, strict: config.strict };
      llm = this.withConfig({
        tools: [{ type: 'function', function: definition }],
        tool_choice: { type: 'function', function: { name } },
        ls_structured_output_format: traced('functionCalling'),
      });
      parser = createFunctionCallingParser(schema, name) as unknown as Runnable<AIMessageChunk, RunOutput>;
    } else {
      const requestFields: Record<string, Partial<ChatNVIDIACallOptions>> = {
        jsonMode: { response_format: { type: 'json_object' } },
        jsonSchema: {
          response_format: {
            type: 'json_schema',
            json_schema: { name, description: getSchemaDescription(schema), schema: asJsonSchema, ...(config?.strict !== undefined ? { strict: config.strict } : {}) },
          },
        },
        guidedJson: { modelKwargs: { nvext: { guided_json: asJsonSchema } } },
      };
      const fields = requestFields[method];
      if (!fields) throw new TypeError(`withStructuredOutput method must be functionCalling, jsonMode, jsonSchema or guidedJson, got ${method}`);
      llm = this.withConfig({ ...fields, ls_structured_output_format: traced(method) });
      parser = createContentParser(schema) as unknown as Runnable<AIMessageChunk, RunOutput>;
    }
    return assembleStructuredOutputPipeline(llm, parser, config?.includeRaw, config?.includeRaw ? 'StructuredOutputRunnable' : 'StructuredOutput');
  }

  private requestBody(model: string, messages: BaseMessage[], options: this['ParsedCallOptions'], stream: boolean) {
    const params = this.invocationParams(options);
    // A self-hosted model named only by discovery is known from its first call on.
    if (params.tools) this.assertToolCalling('tool calling');
    if (stream && typeof params.n === 'number' && params.n > 1) {
      throw new RangeError(`n = ${params.n} completions cannot be streamed; invoke without streaming to get them all`);
    }
    return {
      ...params,
      model,
      messages: messages.map(wireMessage),
      stream,
      // Without it an OpenAI-style stream carries no token counts.
      ...(stream && this.streamUsage ? { stream_options: { include_usage: true } } : {}),
    };
  }

  private callOptions(model: string, options: this['ParsedCallOptions']) {
    return { model, signal: options.signal, ...this.endpoint.callRetries };
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    options.signal?.throwIfAborted();
    if (options.streaming ?? this.streaming) return this.streamedResult(messages, options, runManager);
    const model = await this.endpoint.resolveModel();
    const response = await this.endpoint.client.postJson<CompletionResponse>('/chat/completions', this.requestBody(model, messages, options, false), this.callOptions(model, options));
    const choices = Array.isArray(response?.choices) ? response.choices : [];
    if (choices.length === 0) throw this.endpoint.client.badResponse({ model }, 'the completion has no choices');
    const usage = usageOf(response.usage);
    const generations = choices.map((choice, position) => this.generationOfChoice(model, choice, response.id, position === 0 ? usage : undefined));
    return { generations, llmOutput: { tokenUsage: tokenUsageOf(usage) } };
  }

  private generationOfChoice(model: string, choice: WireChoice, id: string | undefined, usage: UsageMetadata | undefined): ChatGeneration {
    const content = choice.message?.content as unknown;
    if (!choice.message || (content !== null && content !== undefined && typeof content !== 'string')) {
      throw this.endpoint.client.badResponse({ model }, choice.message ? "the completion's message content is not text" : 'a choice of the completion has no message');
    }
    const text = typeof content === 'string' ? content : '';
    const { toolCalls, invalid } = toolCallsOf(choice.message.tool_calls);
    const finishReason = choice.finish_reason ?? null;
    return {
      text,
      message: new AIMessageChunk({
        content: text,
        ...(id ? { id } : {}),
        tool_calls: toolCalls,
        invalid_tool_calls: invalid,
        ...(usage ? { usage_metadata: usage } : {}),
        response_metadata: { model_name: model, finish_reason: finishReason, ...(choice.logprobs ? { logprobs: choice.logprobs } : {}) },
      }),
      generationInfo: { finish_reason: finishReason, ...(choice.logprobs ? { logprobs: choice.logprobs } : {}) },
    };
  }

  /**
   * The whole message, streamed: the text is gathered as a string, and only the few chunks that
   * carry more (tool calls, usage, finish reason) are merged as LangChain merges chunks. A piece of
   * text is no LangChain message unless a callback handler asks for its chunk, so a token costs
   * no message, no merge and, with no handler listening for tokens, no callback either.
   */
  private async streamedResult(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    let text = '';
    let merged: ChatGenerationChunk | undefined;
    const merge = (chunk: ChatGenerationChunk) => {
      merged = merged ? merged.concat(chunk) : chunk;
    };
    const tokensHeard = listensForTokens(runManager);
    for await (const piece of this.streamPieces(messages, options)) {
      if (typeof piece === 'string') {
        text += piece;
        if (tokensHeard) await reportText(runManager, piece);
        continue;
      }
      if (text) merge(textGeneration(text));
      text = '';
      merge(piece);
      if (tokensHeard) await reportChunk(runManager, piece);
    }
    if (text) merge(textGeneration(text));
    const generation = merged ?? textGeneration('');
    const message = generation.message as AIMessageChunk;
    return {
      generations: [{ text: generation.text, message, generationInfo: generation.generationInfo ?? {} }],
      llmOutput: { tokenUsage: tokenUsageOf(message.usage_metadata) },
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const tokensHeard = listensForTokens(runManager);
    for await (const piece of this.streamPieces(messages, options)) {
      const generation = typeof piece === 'string' ? textGeneration(piece) : piece;
      yield generation;
      if (tokensHeard) await reportChunk(runManager, generation);
    }
  }

  /**
   * The stream's pieces: the text of the content-only events that arrived in one read, as one
   * string (nothing waits for it, and what is done per piece downstream is done once), and a
   * chunk for each event that carries more.
   */
  private async *streamPieces(messages: BaseMessage[], options: this['ParsedCallOptions']): AsyncGenerator<string | ChatGenerationChunk> {
    const model = await this.endpoint.resolveModel();
    const pending: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => pending.push(event) });
    const pieces = this.endpoint.client.postStream('/chat/completions', this.requestBody(model, messages, options, true), this.callOptions(model, options));
    let text = '';
    for await (const piece of pieces) {
      parser.feed(piece);
      for (let at = 0; at < pending.length; at++) {
        const data = (pending[at] as EventSourceMessage).data;
        if (data.trim() === '[DONE]') {
          if (text) yield text;
          return;
        }
        let chunk: CompletionChunk;
        try {
          chunk = this.parseChunk(model, data);
        } catch (error) {
          // What came before a broken or failing event is still the caller's.
          if (text) yield text;
          throw error;
        }
        const contentOnly = contentOf(chunk);
        if (contentOnly !== undefined) {
          text += contentOnly;
          continue;
        }
        const generation = this.generationOf(chunk);
        if (!generation) continue;
        if (text) yield text;
        text = '';
        yield generation;
      }
      pending.length = 0;
      if (text) yield text;
      text = '';
    }
    // A stream that stops before its terminator was cut: what came so far is not the whole answer.
    throw this.endpoint.client.badResponse({ model }, 'the stream ended without data: [DONE]; the answer is incomplete');
  }

  private parseChunk(model: string, data: string): CompletionChunk {
    let chunk: CompletionChunk;
    try {
      chunk = JSON.parse(data) as CompletionChunk;
    } catch {
      throw this.endpoint.client.badResponse({ model }, `stream event is not JSON: ${data.slice(0, 200)}`);
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      const error = chunk.error as { message?: unknown } | string;
      const message = typeof error === 'string' ? error : typeof error.message === 'string' ? error.message : JSON.stringify(error);
      throw new NVIDIAError({ kind: 'stream-error', model, url: this.baseUrl, nimMessage: message });
    }
    return chunk;
  }

  private generationOf(chunk: CompletionChunk): ChatGenerationChunk | undefined {
    const choice = chunk.choices?.[0];
    const text = choice?.delta?.content ?? '';
    const usage = usageOf(chunk.usage);
    const finishReason = choice?.finish_reason ?? undefined;
    const logprobs = choice?.logprobs ?? undefined;
    const toolCallChunks: ToolCallChunk[] = (choice?.delta?.tool_calls ?? []).map((call) => ({
      index: call.index,
      id: call.id,
      name: call.function?.name,
      args: call.function?.arguments,
      type: 'tool_call_chunk',
    }));
    if (!text && !usage && !finishReason && !logprobs && toolCallChunks.length === 0) return undefined;
    const metadata = { ...(finishReason ? { finish_reason: finishReason } : {}), ...(logprobs ? { logprobs } : {}) };
    return new ChatGenerationChunk({
      text,
      message: new AIMessageChunk({
        content: text,
        ...(chunk.id ? { id: chunk.id } : {}),
        ...(toolCallChunks.length > 0 ? { tool_call_chunks: toolCallChunks } : {}),
        ...(usage ? { usage_metadata: usage } : {}),
        ...(Object.keys(metadata).length > 0 ? { response_metadata: metadata } : {}),
      }),
      generationInfo: metadata,
    });
  }
}

/** The text of an event that carries nothing else (no tool calls, usage, finish reason or logprobs); otherwise undefined. */
function contentOf(chunk: CompletionChunk): string | undefined {
  if (chunk.usage) return undefined;
  const choices = chunk.choices;
  if (choices?.length !== 1) return undefined;
  const choice = choices[0];
  const content = choice?.delta?.content;
  if (typeof content !== 'string' || choice?.finish_reason || choice?.logprobs || choice?.delta?.tool_calls?.length) return undefined;
  return content;
}

/** Whether any of the run's callback handlers hears tokens: LangChain calls each handler per token whether it has the method or not. */
function listensForTokens(runManager: CallbackManagerForLLMRun | undefined): runManager is CallbackManagerForLLMRun {
  return runManager?.handlers.some((handler) => typeof handler.handleLLMNewToken === 'function') ?? false;
}

function reportChunk(runManager: CallbackManagerForLLMRun, chunk: ChatGenerationChunk): Promise<void> {
  return runManager.handleLLMNewToken(chunk.text, undefined, undefined, undefined, undefined, { chunk });
}

/** A piece of text to the token handlers, its chunk made only if a handler reads it. */
function reportText(runManager: CallbackManagerForLLMRun, text: string): Promise<void> {
  let chunk: ChatGenerationChunk | undefined;
  const fields = {
    get chunk() {
      chunk ??= textGeneration(text);
      return chunk;
    },
  };
  return runManager.handleLLMNewToken(text, undefined, undefined, undefined, undefined, fields);
}

function textGeneration(text: string): ChatGenerationChunk {
  return new ChatGenerationChunk({ text, message: new AIMessageChunk({ content: text }), generationInfo: {} });
}
