import type { BaseLanguageModelInput } from '@langchain/core/language_models/base';
import type { BaseMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import {
  type Runnable,
  RunnableBranch,
  type RunnableConfig,
  RunnableLambda,
  RunnablePassthrough,
  RunnableSequence,
} from '@langchain/core/runnables';
import { type Condenser, historyMessages } from './condense.js';
import type { HistoryMessage } from './history.js';
import { askPrompt, instructionsText, type PromptInput } from './prompt.js';

/** What the chain answers, without calling the model, when nothing was retrieved: no context, no grounded answer. */
export const NO_CONTEXT_ANSWER = 'No ingested text matches the question.';

export type AskInput = {
  question: string;
  language?: string | undefined;
  /** Earlier turns, oldest first, already within the history budget. */
  history?: HistoryMessage[] | undefined;
  /** The caller's system messages. */
  instructions?: string[] | undefined;
};

export interface RetrievedText {
  text: string;
}

/** With the query retrieval ran on, when it is not the question itself: its standalone rewrite. */
export type WithQuery = AskInput & { standalone_query?: string };

export type WithSources<S extends RetrievedText> = WithQuery & { sources: S[] };

/** Turns the retrieved sources into the answer text. */
export type Answerer<S extends RetrievedText> = Runnable<WithSources<S>, string>;

export type Retrieve<S extends RetrievedText> = (query: string, signal?: AbortSignal) => Promise<S[]>;

/** The retrieved chunks' page contents, joined, as the example's `format_docs` does. */
const formatContext = (sources: RetrievedText[]) => sources.map((source) => source.text).join('\n\n');

/** `{context, history, question, language} → ChatPromptTemplate → chat model → StringOutputParser`. */
export function llmAnswerer<S extends RetrievedText>(llm: Runnable<BaseLanguageModelInput, BaseMessage>): Answerer<S> {
  return RunnableSequence.from<WithSources<S>, string>([
    RunnableLambda.from(
      (input: WithSources<S>): PromptInput => ({
        context: formatContext(input.sources),
        question: input.question,
        language: input.language,
        history: historyMessages(input.history ?? []),
        instructions: instructionsText(input.instructions),
      }),
    ).withConfig({ runName: 'format_context' }),
    askPrompt,
    llm,
    new StringOutputParser(),
  ]);
}

/**
 * The LCEL chain of the LangChain NVIDIA example, keeping the retrieved sources beside the answer:
 * with earlier turns and a condenser, `standalone_query` is assigned first (the follow-up rewritten
 * to stand on its own); then `query → retriever` is assigned as `sources`, then `answer` from the
 * answerer, or, when nothing was retrieved, from NO_CONTEXT_ANSWER (a model given no context would
 * only invent). Without a condenser (no history) the chain is the example's, the question being the query.
 * Streamed, it yields `{sources}` once and then `{answer}` pieces as the model produces them.
 */
export function buildAskChain<S extends RetrievedText>(
  retrieve: Retrieve<S>,
  answerer: Answerer<S>,
  condenser?: Condenser,
): Runnable<AskInput, WithSources<S> & { answer: string }> {
  const retriever = RunnableLambda.from((input: WithQuery, config?: RunnableConfig) => retrieve(input.standalone_query ?? input.question, config?.signal)).withConfig({
    runName: 'retriever',
  });
  const answer = RunnableBranch.from<WithSources<S>, string>([
    [(input) => input.sources.length === 0, RunnableLambda.from(() => NO_CONTEXT_ANSWER).withConfig({ runName: 'no_context' })],
    answerer,
  ]);
  const answering = RunnablePassthrough.assign<WithQuery, { sources: S[] }>({ sources: retriever }).pipe(
    RunnablePassthrough.assign<WithSources<S>, { answer: string }>({ answer }),
  );
  if (!condenser) return answering;
  const condense = RunnableLambda.from((input: AskInput) => ({ question: input.question, history: input.history ?? [] })).pipe(condenser.runnable);
  return RunnablePassthrough.assign<AskInput, { standalone_query: string }>({ standalone_query: condense }).pipe(answering);
}
