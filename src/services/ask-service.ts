import type { GenerationOptions } from '@nim-rag/langchain-nvidia';
import { type Answerer, buildAskChain } from '../rag/ask-chain.js';
import { GenerationRecorder } from '../rag/generation-recorder.js';
import { PushQueue } from './push-queue.js';
import type { RetrievalService, SearchRequest, SearchTimings, Source } from './retrieval-service.js';

export interface AskRequest extends Omit<SearchRequest, 'query'> {
  question: string;
  language?: string | undefined;
  generation?: GenerationOptions | undefined;
}

export interface AskTimings {
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
  sources: Source[];
  model: string;
  /** Why the model stopped (`stop`, `length`…), when it was called and said. */
  finish_reason?: string;
  usage?: AskUsage;
  timings: AskTimings;
}

/** A streamed answer: the sources once, the answer's pieces as the model produces them, then the whole. */
export type AskEvent =
  | { type: 'sources'; sources: Source[] }
  | { type: 'token'; text: string }
  | ({ type: 'done' } & Omit<AskResult, 'sources'>);

/** Who answers: a chat model behind the prompt, or the offline extractive answerer. */
export interface Answering {
  model: string;
  /**
   * The answerer for one request. `recorder` hears the chat model's end of run; it is attached to
   * the model alone, since callbacks on the whole chain would run for each of its steps.
   */
  answerer(generation: GenerationOptions | undefined, recorder: GenerationRecorder): Answerer<Source>;
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
  sources: (sources: Source[]) => void;
  token: (text: string) => void;
}

/** One run of the chain: the chain itself, what it reports, and when each stage ended. */
class AskRun {
  readonly started = performance.now();
  retrievedAt: number | undefined;
  readonly searchTimings: SearchTimings = {};
  readonly report: GenerationRecorder;
  readonly chain;

  constructor(retrieval: RetrievalService, answering: Answering, request: AskRequest, options: AskOptions, listener?: RunListener) {
    this.report = new GenerationRecorder(listener?.token);
    this.chain = buildAskChain<Source>(async (question, signal) => {
      const found = await retrieval.search({ ...request, query: question }, signal, this.searchTimings);
      this.retrievedAt = performance.now();
      const sources = options.dropUnmatched && request.minScore === undefined ? found.filter(sharesSomething) : found;
      listener?.sources(sources);
      return sources;
    }, answering.answerer(request.generation, this.report));
  }

  timings(firstTokenAt?: number): AskTimings {
    const finished = performance.now();
    const retrievedAt = this.retrievedAt ?? finished;
    return {
      retrieval_ms: ms(retrievedAt - this.started),
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
}

export class AskService {
  constructor(
    private readonly retrieval: RetrievalService,
    private readonly answering: Answering,
    private readonly options: AskOptions,
  ) {}

  get model(): string {
    return this.answering.model;
  }

  /** Retrieves, then answers from what was retrieved; `answer` is exactly what the model produced. */
  async ask(request: AskRequest, signal?: AbortSignal): Promise<AskResult> {
    const run = new AskRun(this.retrieval, this.answering, request, this.options);
    const input = { question: request.question, language: request.language };
    const result = await run.chain.invoke(input, { signal });
    return {
      answer: result.answer,
      sources: result.sources,
      model: this.answering.model,
      ...reported(run.report),
      timings: run.timings(),
    };
  }

  /**
   * The same chain, streamed: a `sources` event, `token` events, then `done` with the whole answer.
   * The chain is invoked and the chat model streams inside it, telling its callbacks each piece:
   * streaming the chain itself would carry every token through each of its steps, which cost
   * several times what the token does.
   */
  async *stream(request: AskRequest, signal?: AbortSignal): AsyncGenerator<AskEvent> {
    const events = new PushQueue<AskEvent>();
    let firstTokenAt: number | undefined;
    const run = new AskRun(this.retrieval, this.answering, request, this.options, {
      sources: (sources) => events.push({ type: 'sources', sources }),
      token: (text) => {
        firstTokenAt ??= performance.now();
        events.push({ type: 'token', text });
      },
    });
    const input = { question: request.question, language: request.language };
    run.chain.invoke(input, { signal }).then(
      (result) => {
        // An answer no model streamed (nothing retrieved, or the offline answerer) is one piece.
        if (firstTokenAt === undefined && result.answer) {
          firstTokenAt = performance.now();
          events.push({ type: 'token', text: result.answer });
        }
        events.push({ type: 'done', answer: result.answer, model: this.answering.model, ...reported(run.report), timings: run.timings(firstTokenAt) });
        events.end();
      },
      (error: unknown) => events.end(error),
    );
    yield* events;
  }
}
