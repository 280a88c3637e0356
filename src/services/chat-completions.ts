import { randomUUID } from 'node:crypto';
import type { components } from '../api/operations.js';
import { badRequest, ProblemError } from '../errors.js';
import { conversationOf } from '../rag/history.js';
import type { GenerationOptions } from '@nim-rag/langchain-nvidia';
import type { AskRequest, AskService } from './ask-service.js';

type ChatRequest = components['schemas']['ChatCompletionRequest'];
type ChatMessage = components['schemas']['ChatMessage'];
export type ChatCompletion = components['schemas']['ChatCompletion'];
export type ChatCompletionChunk = components['schemas']['ChatCompletionChunk'];
export type ModelList = components['schemas']['ModelList'];
type Model = components['schemas']['Model'];

/** The text of a message, whether sent as a string or as OpenAI content parts. */
function textOf(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('\n');
}

function generationOf(request: ChatRequest): GenerationOptions {
  const stop = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? undefined);
  return {
    temperature: request.temperature,
    topP: request.top_p,
    maxTokens: request.max_completion_tokens ?? request.max_tokens,
    seed: request.seed,
    stop,
  };
}

const isEmptyList = (value: unknown) => Array.isArray(value) && value.length === 0;
const NO_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

/**
 * OpenAI parameters that change what kind of answer is wanted (a tool call, JSON): the chain only
 * answers in text from the retrieved context, so ignoring them would hand back the wrong kind.
 */
function refuseUnsupported(request: ChatRequest): void {
  const fields = request as Record<string, unknown>;
  const format = fields.response_format as { type?: unknown } | null | undefined;
  const refused = [
    ...['tools', 'functions'].filter((name) => fields[name] !== undefined && fields[name] !== null && !isEmptyList(fields[name])),
    ...['tool_choice', 'function_call'].filter((name) => fields[name] !== undefined && fields[name] !== null && fields[name] !== 'none'),
    ...(format !== undefined && format !== null && format.type !== 'text' ? ['response_format'] : []),
  ];
  if (refused.length > 0) {
    throw badRequest(`${refused.join(', ')}: not supported; this endpoint answers in text from the retrieved documents (remove the parameter)`);
  }
}

/**
 * OpenAI's Chat Completions protocol over the RAG chain, so OpenAI SDKs work unchanged: the last
 * message, a user's, is the question and the earlier ones the conversation (system messages the
 * caller's instructions); the reply names the model that answered, the retrieved chunks travel in
 * the extra field `sources` and, with the standalone query retrieval ran on, in `nim_rag`.
 */
export class ChatCompletionsService {
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly ask: AskService,
    private readonly defaults: { collection: string; k: number },
  ) {}

  models(): ModelList {
    return { object: 'list', data: [this.modelEntry()] };
  }

  /** The model that answers, when it is the one asked for (OpenAI's GET /v1/models/{model}). */
  model(id: string): Model {
    if (id !== this.ask.model) {
      throw new ProblemError({ status: 404, slug: 'model-not-found', title: 'Not Found', detail: `the model '${id}' does not exist here: this service answers with ${this.ask.model}` });
    }
    return this.modelEntry();
  }

  private modelEntry(): Model {
    return { id: this.ask.model, object: 'model', created: this.created, owned_by: 'nim-rag' };
  }

  async complete(request: ChatRequest, signal?: AbortSignal): Promise<ChatCompletion> {
    const result = await this.ask.ask(this.askRequest(request), signal);
    return {
      id: completionId(),
      object: 'chat.completion',
      created: now(),
      model: result.model,
      choices: [{ index: 0, message: { role: 'assistant', content: result.answer }, finish_reason: result.finish_reason ?? 'stop' }],
      // OpenAI's clients read usage from every completion: zeros when no model counted tokens (offline).
      usage: result.usage ?? NO_USAGE,
      sources: result.sources,
      nim_rag: { standalone_query: result.standalone_query, sources: result.sources },
    };
  }

  /**
   * The chunks of a streamed completion, in the answer's batches (see AskService.stream): the role
   * and the sources first, a chunk per piece of the answer, one with the finish reason, and the
   * usage when asked for (OpenAI's order).
   */
  async *stream(request: ChatRequest, signal?: AbortSignal): AsyncGenerator<ChatCompletionChunk[]> {
    const base = { id: completionId(), object: 'chat.completion.chunk' as const, created: now(), model: this.ask.model };
    const chunk = (delta: { role?: string; content?: string }, finishReason: string | null = null): ChatCompletionChunk => ({
      ...base,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
    for await (const events of this.ask.stream(this.askRequest(request), signal)) {
      const chunks: ChatCompletionChunk[] = [];
      for (const event of events) {
        if (event.type === 'sources') {
          chunks.push({ ...chunk({ role: 'assistant', content: '' }), sources: event.sources, nim_rag: { standalone_query: event.standalone_query, sources: event.sources } });
        } else if (event.type === 'token') chunks.push(chunk({ content: event.text }));
        else {
          chunks.push(chunk({}, event.finish_reason ?? 'stop'));
          // OpenAI always sends it when asked (LangChain's usage_metadata waits for it): zeros when nothing was counted.
          if (request.stream_options?.include_usage) chunks.push({ ...base, choices: [], usage: event.usage ?? NO_USAGE });
        }
      }
      yield chunks;
    }
  }

  private askRequest(request: ChatRequest): AskRequest {
    refuseUnsupported(request);
    const { instructions, history, question } = conversationOf(request.messages.map((message) => ({ role: message.role, content: textOf(message) })));
    return {
      question,
      history,
      instructions,
      language: request.language,
      k: request.k ?? this.defaults.k,
      collection: request.collection ?? this.defaults.collection,
      filter: request.filter,
      minScore: request.min_score,
      generation: generationOf(request),
    };
  }
}

const completionId = () => `chatcmpl-${randomUUID()}`;
const now = () => Math.floor(Date.now() / 1000);
