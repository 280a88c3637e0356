import type { GenerationOptions } from '@nim-rag/langchain-nvidia';
import { type Answerer, buildAskChain } from '../rag/ask-chain.js';
import { type Condenser, NO_REWRITER } from '../rag/condense.js';
import { type HistoryBudget, type HistoryMessage, withinBudget } from '../rag/history.js';
import { GenerationRecorder } from '../rag/generation-recorder.js';
import { tracedRunnable } from '../telemetry/traced-runnable.js';
import { PushQueue } from './push-queue.js';
import type { RetrievalService, SearchRequest, SearchTimings, Source } from './retrieval-service.js';

export interface AskRequest extends Omit<SearchRequest, 'query'> {
  question: string;
  language?: string | undefined;
  generation?: GenerationOptions | undefined;
  /** Earlier turns, oldest first: the question is then a follow-up, condensed into a standalone query before retrieval. */
  history?: HistoryMessage[] | undefined;
  /** The caller's system messages, appended after the service's system prompt. */
  instructions?: string[] | undefined;
  /** The stored conversation the history came from, echoed in the answer. */
  conversationId?: string | undefined;
}

export interface AskTimings {
  /** Condensing the follow-up into a standalone query; 0 without history. */
  rewrite_ms: number;
  /** Who rewrote it: the LLM's model name, `local-keywords` offline, `none` without history. */
  rewriter: string;
  retrieval_ms: number;
  rerank_ms?: number;
  generation_ms: number;
  /** Streams only: from the start to the first piece of the answer. */
  first_token_ms?: number;
  total_ms: number;
}

/** OpenAI's names for token counts, which API callers know. */
export interface AskUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface AskResult {
  answer: string;
  /** What retrieval searched for: the question, or its standalone rewrite when there was history. */
  standalone_query: string;
  sources: Source[];
  conversation_id?: string;
  model: string;
  /** Why the model stopped (`stop`, `length`…), when it was called and said. */
  finish_reason?: string;
  usage?: AskUsage;
  timings: AskTimings;
}

/** A streamed answer: the sources once, the answer's pieces as the model produces them, then the whole. */
export type AskEvent =
  | { type: 'sources'; standalone_query: string; sources: Source[] }
  | { type: 'token'; text: string }
  | ({ type: 'done' } & Omit<AskResult, 'sources'>);

/** Who answers: a chat model behind the prompt, or the offline extractive answerer. */
export interface Answering {
  model: string;
  /** Rewrites a follow-up into a standalone query: the LLM, or the offline keyword rewriter. */
  condenser: Condenser;
  /**
   * The answerer for one request. `recorder` hears the chat model's end of run; it is attached to
   * the model alone, since callbacks on the whole chain would run for each of its steps.
   */
  answerer(generation: GenerationOptions | undefined, recorder: GenerationRecorder): Answerer<Source>;
}

const conversationOf = (request: AskRequest) => (request.conversationId === undefined ? {} : { conversation_id: request.conversationId });

/** The `done` event's data: the answer without the sources, which went out in the `sources` event. */
function withoutSources(answer: AskResult): Omit<AskResult, 'sources'> {
  const done: Partial<AskResult> = { ...answer };
  delete done.sources;
  return done as Omit<AskResult, 'sources'>;
}

const ms = (duration: number) => Math.round(duration * 10) / 10;

/** What the model reported about its run, in the API's field names; nothing when it was not called. */
function reported({ usage, finishReason }: GenerationRecorder): Pick<AskResult, 'usage' | 'finish_reason'> {
  return {
    ...(finishReason ? { finish_reason: finishReason } : {}),
    ...(usage
      ? { usage: { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens, total_tokens: usage.total_tokens } }
      : {}),
  };
}

/** Who hears a streamed run as it goes: the sources once retrieved, then each piece of the answer. */
interface RunListener {
  sources: (query: string, sources: Source[]) => void;
  token: (text: string) => void;
}

/** One run of the chain: the chain itself, what it reports, and when each stage ended. */
class AskRun {
  readonly started = performance.now();
  rewrittenAt: number | undefined;
  retrievedAt: number | undefined;
  readonly searchTimings: SearchTimings = {};
  readonly report: GenerationRecorder;
  readonly chain;

  readonly rewriter: string;
  readonly input;

  constructor(retrieval: RetrievalService, private readonly answering: Answering, private readonly request: AskRequest, options: AskOptions, listener?: RunListener) {
    this.report = new GenerationRecorder(listener?.token);
    const history = request.history ?? [];
    // A follow-up is condensed first; a single question goes to the retriever as it is.
    const condenser = history.length > 0 ? answering.condenser : undefined;
    this.rewriter = condenser?.name ?? NO_REWRITER;
    const condense = condenser && { ...condenser, runnable: tracedRunnable('rag.condense', condenser.runnable, { 'rag.rewriter': condenser.name }) };
    this.input = { question: request.question, language: request.language, history, instructions: request.instructions };
    this.chain = buildAskChain<Source>(
      async (query, signal) => {
        this.rewrittenAt = performance.now();
        const found = await retrieval.search({ ...request, query }, signal, this.searchTimings);
        this.retrievedAt = performance.now();
        const sources = options.dropUnmatched && request.minScore === undefined ? found.filter(sharesSomething) : found;
        listener?.sources(query, sources);
        return sources;
      },
      tracedRunnable('rag.generate', answering.answerer(request.generation, this.report), { 'gen_ai.request.model': answering.model }),
      condense,
    );
  }

  /** The answer as the API reports it, from what the chain produced. */
  result(output: { answer: string; standalone_query?: string | undefined; sources: Source[] }, firstTokenAt?: number): AskResult {
    return {
      answer: output.answer,
      standalone_query: output.standalone_query ?? this.request.question,
      sources: output.sources,
      model: this.answering.model,
      ...conversationOf(this.request),
      ...reported(this.report),
      timings: this.timings(firstTokenAt),
    };
  }

  timings(firstTokenAt?: number): AskTimings {
    const finished = performance.now();
    const rewrittenAt = this.rewrittenAt ?? finished;
    const retrievedAt = this.retrievedAt ?? finished;
    return {
      rewrite_ms: this.rewriter === NO_REWRITER ? 0 : ms(rewrittenAt - this.started),
      rewriter: this.rewriter,
      retrieval_ms: ms(retrievedAt - rewrittenAt),
      ...(this.searchTimings.rerankMs === undefined ? {} : { rerank_ms: ms(this.searchTimings.rerankMs) }),
      generation_ms: ms(finished - retrievedAt),
      ...(firstTokenAt === undefined ? {} : { first_token_ms: ms(firstTokenAt - this.started) }),
      total_ms: ms(finished - this.started),
    };
  }
}

/** A source that has something of the question: a positive cosine similarity, or a keyword match. */
const sharesSomething = (source: Source) => (source.scores.vector ?? 0) > 0 || source.scores.keyword !== undefined;

export interface AskOptions {
  /** Leave out sources without a positive cosine similarity or a keyword match, unless the request sets its own `min_score`. */
  dropUnmatched: boolean;
  history: HistoryBudget;
}

/** Called with a run's answer once it is complete, before it is returned or its `done` event sent (a stored conversation records the turn). */
export type AnswerCompleted = (result: AskResult) => Promise<void>;

export class AskService {
  constructor(
    private readonly retrieval: RetrievalService,
    private readonly answering: Answering,
    private readonly options: AskOptions,
  ) {}

  get model(): string {
    return this.answering.model;
  }

  /** The request with its history cut to the budget; a 413 when the question alone is past it. */
  private bounded(request: AskRequest): AskRequest {
    if (!request.history?.length && request.conversationId === undefined) return request;
    return { ...request, history: withinBudget(request.history ?? [], request.question, this.options.history) };
  }

  /** Retrieves, then answers from what was retrieved; `answer` is exactly what the model produced. */
  async ask(request: AskRequest, signal?: AbortSignal, completed?: AnswerCompleted): Promise<AskResult> {
    const run = new AskRun(this.retrieval, this.answering, this.bounded(request), this.options);
    const answer = run.result(await run.chain.invoke(run.input, { signal }));
    await completed?.(answer);
    return answer;
  }

  /**
   * The same chain, streamed: a `sources` event, `token` events, then `done` with the whole answer.
   * The chain is invoked and the chat model streams inside it, telling its callbacks each piece:
   * streaming the chain itself would carry every token through each of its steps, which cost
   * several times what the token does. The events come in batches: those a model produces within
   * a few ms of each other (PushQueue's HOLD_MS) travel to the client together, so each layer
   * between the model and the socket runs once per batch, not once per token.
   */
  async *stream(request: AskRequest, signal?: AbortSignal, completed?: AnswerCompleted): AsyncGenerator<AskEvent[]> {
    const events = new PushQueue<AskEvent>();
    let firstTokenAt: number | undefined;
    const run = new AskRun(this.retrieval, this.answering, this.bounded(request), this.options, {
      sources: (query, sources) => events.push({ type: 'sources', standalone_query: query, sources }),
      token: (text) => {
        firstTokenAt ??= performance.now();
        events.push({ type: 'token', text });
      },
    });
    run.chain
      .invoke(run.input, { signal })
      .then(async (result) => {
        // An answer no model streamed (nothing retrieved, or the offline answerer) is one piece.
        if (firstTokenAt === undefined && result.answer) {
          firstTokenAt = performance.now();
          events.push({ type: 'token', text: result.answer });
        }
        const answer = run.result(result, firstTokenAt);
        // Recorded before `done` goes out: a stream cut short or failed never gets here, and records nothing.
        await completed?.(answer);
        events.push({ type: 'done', ...withoutSources(answer) });
        events.end();
      })
      .catch((error: unknown) => events.end(error));
    yield* events;
  }
}
