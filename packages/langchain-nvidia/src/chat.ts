import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import type { BaseLanguageModelInput } from '@langchain/core/language_models/base';
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
  type BindToolsInput,
  type LangSmithParams,
} from '@langchain/core/language_models/chat_models';
import {
  type AIMessage,
  AIMessageChunk,
  type BaseMessage,
  type InvalidToolCall,
  type ToolCall,
  type ToolCallChunk,
  type UsageMetadata,
} from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import type { Runnable } from '@langchain/core/runnables';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { type NVIDIAConnectionFields, NVIDIAEndpoint } from './endpoint.js';
import { NVIDIAError } from './errors.js';
import { DEFAULT_CHAT_MODEL, toolsUnsupported } from './models.js';

export interface GenerationOptions {
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
  seed?: number | undefined;
  stop?: string[] | undefined;
}

/** A tool as the OpenAI-compatible API takes it. */
export interface OpenAITool {
  type: 'function';
  function: { name: string; description?: string | undefined; parameters?: unknown };
}

/** `auto`, `none`, `required`, a tool's name, or the OpenAI object naming one. */
export type ToolChoice = string | { type: 'function'; function: { name: string } };

export interface ChatNVIDIACallOptions extends BaseChatModelCallOptions {
  /** Per-call overrides of the model's generation settings. */
  generation?: GenerationOptions | undefined;
  tools?: OpenAITool[] | undefined;
  tool_choice?: ToolChoice | undefined;
  /** Overrides the model's `streaming` for one call. */
  streaming?: boolean | undefined;
}

export interface ChatNVIDIAFields extends BaseChatModelParams, GenerationOptions, NVIDIAConnectionFields {
  /** Default `mistralai/mixtral-8x7b-instruct-v0.1` on the hosted catalog; on a self-hosted NIM, the model it serves. */
  model?: string | undefined;
  /** Ask for token counts at the end of a stream (`stream_options.include_usage`). Default true. */
  streamUsage?: boolean | undefined;
  /**
   * As in `@langchain/openai`: `invoke` streams from the NIM and reports each piece to the
   * callbacks' `handleLLMNewToken` as it arrives, then returns the whole message. Default false.
   */
  streaming?: boolean | undefined;
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

interface CompletionResponse {
  choices?: Array<{ message?: { content?: string | null; tool_calls?: WireToolCall[] | null }; finish_reason?: string | null }>;
  usage?: OpenAIUsage | null;
}

interface CompletionChunk {
  choices?: Array<{ delta?: { content?: string | null; tool_calls?: WireToolCall[] | null }; finish_reason?: string | null }>;
  usage?: OpenAIUsage | null;
  error?: unknown;
}

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
}

function wireMessage(message: BaseMessage): Record<string, unknown> {
  const type = message.getType();
  if (type === 'system') return { role: 'system', content: message.text };
  if (type === 'human') return { role: 'user', content: message.text };
  if (type === 'tool') return { role: 'tool', content: message.text, tool_call_id: (message as unknown as { tool_call_id: string }).tool_call_id };
  if (type === 'ai') {
    const toolCalls = (message as AIMessage).tool_calls ?? [];
    return {
      role: 'assistant',
      content: message.text,
      ...(toolCalls.length > 0
        ? {
            tool_calls: toolCalls.map((call) => ({
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: JSON.stringify(call.args) },
            })),
          }
        : {}),
    };
  }
  throw new TypeError(`ChatNVIDIA cannot send a ${type} message`);
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

/**
 * A LangChain chat model over a NIM's OpenAI-compatible `/chat/completions`, with real token
 * streaming over SSE, tool calling, and token usage in LangChain's shape. An error object a NIM
 * sends inside the stream is raised as an NVIDIAError, not swallowed.
 */
export class ChatNVIDIA extends BaseChatModel<ChatNVIDIACallOptions, AIMessageChunk> {
  static override lc_name(): string {
    return 'ChatNVIDIA';
  }

  temperature: number | undefined;
  topP: number | undefined;
  maxTokens: number;
  seed: number | undefined;
  stop: string[] | undefined;
  streamUsage: boolean;
  streaming: boolean;
  private readonly endpoint: NVIDIAEndpoint;

  override get lc_secrets(): Record<string, string> {
    return { apiKey: 'NVIDIA_API_KEY' };
  }

  constructor(fields: ChatNVIDIAFields = {}) {
    // Retries live in the NVIDIA client, which honours Retry-After; LangChain's caller must not retry again.
    super({ ...fields, maxRetries: 0 });
    this.endpoint = new NVIDIAEndpoint(fields, DEFAULT_CHAT_MODEL, 'chat');
    this.temperature = fields.temperature;
    this.topP = fields.topP;
    this.maxTokens = fields.maxTokens ?? 1024;
    this.seed = fields.seed;
    this.stop = fields.stop;
    this.streamUsage = fields.streamUsage ?? true;
    this.streaming = fields.streaming ?? false;
    validateGeneration(this);
  }

  /** The model name; empty until a self-hosted NIM given none has been asked (on the first call). */
  get model(): string {
    return this.endpoint.model;
  }

  get baseUrl(): string {
    return this.endpoint.client.baseUrl;
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
      ls_temperature: params.temperature,
      ls_max_tokens: params.max_tokens,
      ls_stop: params.stop,
    };
  }

  /** The request body's settings for one call: the model's fields overridden by the call's. */
  override invocationParams(options?: this['ParsedCallOptions']) {
    const settings: GenerationOptions = { temperature: this.temperature, topP: this.topP, maxTokens: this.maxTokens, seed: this.seed, stop: this.stop };
    for (const [key, value] of Object.entries(options?.generation ?? {})) {
      if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
    }
    validateGeneration(settings);
    const stop = options?.stop ?? settings.stop;
    return {
      model: this.model,
      max_tokens: settings.maxTokens,
      ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
      ...(settings.topP !== undefined ? { top_p: settings.topP } : {}),
      ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
      ...(stop?.length ? { stop } : {}),
      ...(options?.tools?.length ? { tools: options.tools } : {}),
      ...(options?.tool_choice !== undefined ? { tool_choice: toolChoiceOf(options.tool_choice) } : {}),
    };
  }

  override _identifyingParams() {
    return { model_name: this.model, ...this.invocationParams() };
  }

  /**
   * Tools in any LangChain form (structured tools, zod or JSON schemas, OpenAI tool definitions);
   * `withStructuredOutput` builds on it. A catalog model known to lack tool calling fails here, by name.
   */
  override bindTools(tools: BindToolsInput[], kwargs?: Partial<ChatNVIDIACallOptions>): Runnable<BaseLanguageModelInput, AIMessageChunk, ChatNVIDIACallOptions> {
    if (toolsUnsupported(this.model)) {
      throw new NVIDIAError({
        kind: 'unsupported',
        model: this.model,
        url: this.baseUrl,
        nimMessage: '',
        message: `model ${this.model} does not support tool calling on the NVIDIA API catalog; choose a model that does, such as meta/llama-3.1-70b-instruct`,
      });
    }
    return this.withConfig({ tools: tools.map((tool) => convertToOpenAITool(tool) as OpenAITool), ...kwargs });
  }

  private requestBody(model: string, messages: BaseMessage[], options: this['ParsedCallOptions'], stream: boolean) {
    return {
      ...this.invocationParams(options),
      model,
      messages: messages.map(wireMessage),
      stream,
      // Without it an OpenAI-style stream carries no token counts.
      ...(stream && this.streamUsage ? { stream_options: { include_usage: true } } : {}),
    };
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    if (options.streaming ?? this.streaming) return this.streamedResult(messages, options, runManager);
    const model = await this.endpoint.resolveModel();
    const response = await this.endpoint.client.postJson<CompletionResponse>(
      '/chat/completions',
      this.requestBody(model, messages, options, false),
      { model, signal: options.signal },
    );
    const choice = response?.choices?.[0];
    const content = choice?.message?.content as unknown;
    if (!choice?.message || (content !== null && content !== undefined && typeof content !== 'string')) {
      throw this.endpoint.client.badResponse(
        { model },
        choice?.message ? "the completion's message content is not text" : 'the completion has no choices',
      );
    }
    const text = typeof content === 'string' ? content : '';
    const usage = usageOf(response.usage);
    const { toolCalls, invalid } = toolCallsOf(choice.message.tool_calls);
    return {
      generations: [
        {
          text,
          message: new AIMessageChunk({
            content: text,
            tool_calls: toolCalls,
            invalid_tool_calls: invalid,
            ...(usage ? { usage_metadata: usage } : {}),
            response_metadata: { model_name: model, finish_reason: choice.finish_reason ?? null },
          }),
          generationInfo: { finish_reason: choice.finish_reason ?? null },
        },
      ],
      llmOutput: {
        tokenUsage: usage
          ? { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens }
          : undefined,
      },
    };
  }

  /**
   * The whole message, streamed: the text is gathered as a string, and only the few chunks that
   * carry more (tool calls, usage, finish reason) are merged as LangChain merges chunks, so a
   * token costs no message merge.
   */
  private async streamedResult(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    let text = '';
    let merged: ChatGenerationChunk | undefined;
    const merge = (chunk: ChatGenerationChunk) => {
      merged = merged ? merged.concat(chunk) : chunk;
    };
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) {
      if (isTextOnly(chunk)) {
        text += chunk.text;
        continue;
      }
      if (text) merge(textGeneration(text));
      text = '';
      merge(chunk);
    }
    if (text) merge(textGeneration(text));
    const generation = merged ?? textGeneration('');
    const message = generation.message as AIMessageChunk;
    const usage = message.usage_metadata;
    return {
      generations: [{ text: generation.text, message, generationInfo: generation.generationInfo ?? {} }],
      llmOutput: {
        tokenUsage: usage ? { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens } : undefined,
      },
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const model = await this.endpoint.resolveModel();
    const pending: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => pending.push(event) });
    const pieces = this.endpoint.client.postStream('/chat/completions', this.requestBody(model, messages, options, true), {
      model,
      signal: options.signal,
    });
    // The text of content-only events that arrived in one read becomes one chunk: nothing waits
    // for it, and LangChain's per-chunk work (callbacks, every step of a chain) is done once.
    let text = '';
    const flush = async function* (): AsyncGenerator<ChatGenerationChunk> {
      if (!text) return;
      const generation = textGeneration(text);
      text = '';
      yield generation;
      await runManager?.handleLLMNewToken(generation.text, undefined, undefined, undefined, undefined, { chunk: generation });
    };
    for await (const piece of pieces) {
      parser.feed(piece);
      for (const event of pending.splice(0)) {
        if (event.data.trim() === '[DONE]') {
          yield* flush();
          return;
        }
        let chunk: CompletionChunk;
        try {
          chunk = this.parseChunk(model, event.data);
        } catch (error) {
          // What came before a broken or failing event is still the caller's.
          yield* flush();
          throw error;
        }
        const contentOnly = contentOf(chunk);
        if (contentOnly !== undefined) {
          text += contentOnly;
          continue;
        }
        yield* flush();
        const generation = this.generationOf(chunk);
        if (!generation) continue;
        yield generation;
        await runManager?.handleLLMNewToken(generation.text, undefined, undefined, undefined, undefined, { chunk: generation });
      }
      yield* flush();
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
    const toolCallChunks: ToolCallChunk[] = (choice?.delta?.tool_calls ?? []).map((call) => ({
      index: call.index,
      id: call.id,
      name: call.function?.name,
      args: call.function?.arguments,
      type: 'tool_call_chunk',
    }));
    if (!text && !usage && !finishReason && toolCallChunks.length === 0) return undefined;
    return new ChatGenerationChunk({
      text,
      message: new AIMessageChunk({
        content: text,
        ...(toolCallChunks.length > 0 ? { tool_call_chunks: toolCallChunks } : {}),
        ...(usage ? { usage_metadata: usage } : {}),
        ...(finishReason ? { response_metadata: { finish_reason: finishReason } } : {}),
      }),
      generationInfo: finishReason ? { finish_reason: finishReason } : {},
    });
  }
}

/** The text of an event that carries nothing else (no tool calls, usage or finish reason); otherwise undefined. */
function contentOf(chunk: CompletionChunk): string | undefined {
  if (chunk.usage) return undefined;
  const choices = chunk.choices;
  if (choices?.length !== 1) return undefined;
  const choice = choices[0];
  const content = choice?.delta?.content;
  if (typeof content !== 'string' || choice?.finish_reason || choice?.delta?.tool_calls?.length) return undefined;
  return content;
}

function isTextOnly(chunk: ChatGenerationChunk): boolean {
  const message = chunk.message as AIMessageChunk;
  return !message.tool_call_chunks?.length && !message.usage_metadata && chunk.generationInfo?.finish_reason === undefined;
}

function textGeneration(text: string): ChatGenerationChunk {
  return new ChatGenerationChunk({ text, message: new AIMessageChunk({ content: text }), generationInfo: {} });
}

function toolChoiceOf(choice: ToolChoice): ToolChoice {
  if (typeof choice !== 'string' || ['auto', 'none', 'required'].includes(choice)) return choice;
  return { type: 'function', function: { name: choice } };
}
