import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
} from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage, type UsageMetadata } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { NimClient } from './nim-client.js';
import { NimError } from './nim-error.js';

export const DEFAULT_CHAT_MODEL = 'mistralai/mixtral-8x7b-instruct-v0.1';

export interface GenerationOptions {
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
  seed?: number | undefined;
  stop?: string[] | undefined;
}

export interface ChatNVIDIACallOptions extends BaseChatModelCallOptions {
  /** Per-call overrides of the model's generation settings. */
  generation?: GenerationOptions;
}

export interface ChatNVIDIAFields extends BaseChatModelParams, GenerationOptions {
  client: NimClient;
  model?: string;
}

interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

interface CompletionResponse {
  choices?: Array<{ message?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: OpenAIUsage | null;
}

interface CompletionChunk {
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
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

function roleOf(message: BaseMessage): 'system' | 'user' | 'assistant' {
  const type = message.getType();
  if (type === 'system') return 'system';
  if (type === 'human') return 'user';
  if (type === 'ai') return 'assistant';
  throw new TypeError(`ChatNVIDIA cannot send a ${type} message`);
}

function usageOf(usage: OpenAIUsage | null | undefined): UsageMetadata | undefined {
  if (!usage) return undefined;
  const input = usage.prompt_tokens ?? 0;
  const output = usage.completion_tokens ?? 0;
  return { input_tokens: input, output_tokens: output, total_tokens: usage.total_tokens ?? input + output };
}

/**
 * A LangChain chat model over a NIM's OpenAI-compatible `/chat/completions`, with real token
 * streaming over SSE. An error object a NIM sends inside the stream is raised, not swallowed.
 */
export class ChatNVIDIA extends BaseChatModel<ChatNVIDIACallOptions, AIMessageChunk> {
  readonly model: string;
  private readonly client: NimClient;
  private readonly defaults: GenerationOptions;

  static override lc_name(): string {
    return 'ChatNVIDIA';
  }

  constructor(fields: ChatNVIDIAFields) {
    super(fields);
    this.client = fields.client;
    this.model = fields.model ?? DEFAULT_CHAT_MODEL;
    this.defaults = {
      temperature: fields.temperature,
      topP: fields.topP,
      maxTokens: fields.maxTokens ?? 1024,
      seed: fields.seed,
      stop: fields.stop,
    };
    validateGeneration(this.defaults);
  }

  _llmType(): string {
    return 'chat-nvidia';
  }

  private requestBody(messages: BaseMessage[], options: this['ParsedCallOptions'], stream: boolean) {
    const settings: GenerationOptions = { ...this.defaults };
    for (const [key, value] of Object.entries(options.generation ?? {})) {
      if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
    }
    validateGeneration(settings);
    const stop = options.stop ?? settings.stop;
    return {
      model: this.model,
      messages: messages.map((message) => ({ role: roleOf(message), content: message.text })),
      max_tokens: settings.maxTokens,
      ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
      ...(settings.topP !== undefined ? { top_p: settings.topP } : {}),
      ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
      ...(stop?.length ? { stop } : {}),
      stream,
      // Without it an OpenAI-style stream carries no token counts.
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    };
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    const response = await this.client.postJson<CompletionResponse>(
      '/chat/completions',
      this.requestBody(messages, options, false),
      { model: this.model, signal: options.signal },
    );
    const choice = response?.choices?.[0];
    const content = choice?.message?.content as unknown;
    if (!choice?.message || (content !== null && content !== undefined && typeof content !== 'string')) {
      throw new NimError({
        kind: 'nim-bad-response',
        model: this.model,
        url: this.client.baseUrl,
        nimMessage: choice?.message ? 'the completion\'s message content is not text' : 'the completion has no choices',
      });
    }
    const text = typeof content === 'string' ? content : '';
    const usage = usageOf(response.usage);
    return {
      generations: [
        {
          text,
          message: new AIMessage({ content: text, ...(usage ? { usage_metadata: usage } : {}) }),
          generationInfo: { finish_reason: choice.finish_reason ?? null },
        },
      ],
      llmOutput: { tokenUsage: usage },
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const pending: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => pending.push(event) });
    const pieces = this.client.postStream('/chat/completions', this.requestBody(messages, options, true), {
      model: this.model,
      signal: options.signal,
    });
    for await (const piece of pieces) {
      parser.feed(piece);
      while (pending.length > 0) {
        const event = pending.shift() as EventSourceMessage;
        if (event.data.trim() === '[DONE]') return;
        const chunk = this.parseChunk(event.data);
        const generation = this.generationOf(chunk);
        if (!generation) continue;
        yield generation;
        await runManager?.handleLLMNewToken(generation.text, undefined, undefined, undefined, undefined, {
          chunk: generation,
        });
      }
    }
    // A stream that stops before its terminator was cut: what came so far is not the whole answer.
    throw this.streamError('nim-bad-response', 'the stream ended without data: [DONE]; the answer is incomplete');
  }

  private parseChunk(data: string): CompletionChunk {
    let chunk: CompletionChunk;
    try {
      chunk = JSON.parse(data) as CompletionChunk;
    } catch {
      throw this.streamError('nim-bad-response', `stream event is not JSON: ${data.slice(0, 200)}`);
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      const error = chunk.error as { message?: unknown } | string;
      const message = typeof error === 'string' ? error : typeof error.message === 'string' ? error.message : JSON.stringify(error);
      throw this.streamError('nim-stream-error', message);
    }
    return chunk;
  }

  private generationOf(chunk: CompletionChunk): ChatGenerationChunk | undefined {
    const choice = chunk.choices?.[0];
    const text = choice?.delta?.content ?? '';
    const usage = usageOf(chunk.usage);
    const finishReason = choice?.finish_reason ?? undefined;
    if (!text && !usage && !finishReason) return undefined;
    return new ChatGenerationChunk({
      text,
      message: new AIMessageChunk({ content: text, ...(usage ? { usage_metadata: usage } : {}) }),
      generationInfo: finishReason ? { finish_reason: finishReason } : {},
    });
  }

  private streamError(kind: 'nim-stream-error' | 'nim-bad-response', nimMessage: string): NimError {
    return new NimError({ kind, model: this.model, url: this.client.baseUrl, nimMessage });
  }
}
