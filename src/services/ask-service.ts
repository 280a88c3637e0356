import type { GenerationOptions } from '../nim/chat.js';
import { type Answerer, buildAskChain } from '../rag/ask-chain.js';
import type { RetrievalService, SearchRequest, Source } from './retrieval-service.js';

export interface AskRequest extends Omit<SearchRequest, 'query'> {
  question: string;
  language?: string | undefined;
  generation?: GenerationOptions | undefined;
}

export interface AskTimings {
  retrieval_ms: number;
  generation_ms: number;
  total_ms: number;
}

export interface AskResult {
  answer: string;
  sources: Source[];
  model: string;
  timings: AskTimings;
}

/** Who answers: a chat model behind the prompt, or the offline extractive answerer. */
export interface Answering {
  model: string;
  answerer(generation?: GenerationOptions): Answerer<Source>;
}

const ms = (duration: number) => Math.round(duration * 10) / 10;

export class AskService {
  constructor(
    private readonly retrieval: RetrievalService,
    private readonly answering: Answering,
  ) {}

  get model(): string {
    return this.answering.model;
  }

  /** Retrieves, then answers from what was retrieved; `answer` is exactly what the model produced. */
  async ask(request: AskRequest, signal?: AbortSignal): Promise<AskResult> {
    const started = performance.now();
    let retrievedAt = started;
    const chain = buildAskChain<Source>(async (question, chainSignal) => {
      const sources = await this.retrieval.search({ ...request, query: question }, chainSignal);
      retrievedAt = performance.now();
      return sources;
    }, this.answering.answerer(request.generation));
    const result = await chain.invoke({ question: request.question, language: request.language }, { signal });
    const finished = performance.now();
    return {
      answer: result.answer,
      sources: result.sources,
      model: this.answering.model,
      timings: {
        retrieval_ms: ms(retrievedAt - started),
        generation_ms: ms(finished - retrievedAt),
        total_ms: ms(finished - started),
      },
    };
  }
}
