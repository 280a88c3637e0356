import type { BaseLanguageModelInput } from '@langchain/core/language_models/base';
import { AIMessage, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate, MessagesPlaceholder } from '@langchain/core/prompts';
import { type Runnable, RunnableLambda, RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { contentWords } from '../local/text-features.js';
import type { HistoryMessage } from './history.js';

/** The rewriter's name in `timings` and health when there is no LLM: it only adds words, it generates nothing. */
export const LOCAL_REWRITER = 'local-keywords';
/** The rewriter's name in `timings` when a request had no earlier turns, so nothing was rewritten. */
export const NO_REWRITER = 'none';

export type CondenseInput = {
  question: string;
  history: HistoryMessage[];
};

/** Rewrites the last question of a conversation into a query that can be searched for on its own. */
export interface Condenser {
  /** The LLM's model name, or LOCAL_REWRITER. */
  name: string;
  runnable: Runnable<CondenseInput, string>;
}

/** The earlier turns as chat messages, for a MessagesPlaceholder. */
export const historyMessages = (history: readonly HistoryMessage[]): BaseMessage[] =>
  history.map((message) => (message.role === 'user' ? new HumanMessage(message.content) : new AIMessage(message.content)));

export const CONDENSE_INSTRUCTIONS =
  'Given the conversation so far and a follow-up question, rewrite the follow-up question as a standalone search query ' +
  'that can be understood without the conversation: name what its pronouns and references point to. ' +
  'Do not answer it. Reply with the standalone search query only, on one line.';

/** The "condense question" prompt: the instructions, the earlier turns, then the follow-up. */
export const condensePrompt = ChatPromptTemplate.fromMessages([
  ['system', CONDENSE_INSTRUCTIONS],
  new MessagesPlaceholder('history'),
  ['human', '{question}'],
]);

/** The model's query, on one line, without the quotes or label a model may wrap it in; the question itself when the model gave nothing. */
export function cleanQuery(reply: string, question: string): string {
  const line = reply.split('\n').map((part) => part.trim()).find(Boolean) ?? '';
  const query = line.replace(/^(standalone (search )?query|query)\s*:\s*/i, '').replace(/^["'“]+|["'”]+$/g, '').trim();
  return query || question;
}

/** `{history, question} → condense prompt → chat model → string`, cleaned; the model is called with low temperature and few tokens (set on `llm`). */
export function llmCondenser(name: string, llm: Runnable<BaseLanguageModelInput, BaseMessage>): Condenser {
  const rewrite = RunnableSequence.from<CondenseInput, string>([
    RunnableLambda.from((input: CondenseInput) => ({ history: historyMessages(input.history), question: input.question })).withConfig({ runName: 'format_history' }),
    condensePrompt,
    llm,
    new StringOutputParser(),
  ]);
  return {
    name,
    runnable: RunnablePassthrough.assign<CondenseInput, { reply: string }>({ reply: rewrite }).pipe(
      RunnableLambda.from((input: CondenseInput & { reply: string }) => cleanQuery(input.reply, input.question)).withConfig({ runName: 'clean_query' }),
    ),
  };
}

/** Most words the offline rewriter adds to a question. */
const MAX_ADDED_WORDS = 12;

/**
 * The named entities of a text, normalised: its capitalised words that do not start a sentence
 * ("Italy" in "What is Italy known for?"), the only sign of a name the text itself gives.
 */
function namedEntities(text: string): Set<string> {
  const names = new Set<string>();
  for (const sentence of text.split(/(?<=[.!?])\s+/u)) {
    const words = sentence.match(/[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu) ?? [];
    for (const word of words.slice(1)) if (/^\p{Lu}/u.test(word)) for (const name of contentWords(word)) names.add(name);
  }
  return names;
}

/**
 * The offline rewriter: the question followed by what the earlier user turns say it refers to,
 * newest first and none twice, so that a follow-up such as "and the weather there?" is searched
 * for with the place named before. From every earlier turn its named entities and the words that
 * several turns share; from the last one its other content words too, unless that turn named
 * nothing itself after an earlier turn: then it was a follow-up whose own topic ("the weather there") the new question
 * replaces ("what food there?"), and adding it would pull the search back to the older topic.
 * Deterministic; it generates nothing.
 */
export function localKeywordsQuery(input: CondenseInput): string {
  const turns = input.history.filter((message) => message.role === 'user').map((message) => ({ words: contentWords(message.content), names: namedEntities(message.content) }));
  const turnsWith = new Map<string, number>();
  for (const turn of turns) for (const word of new Set(turn.words)) turnsWith.set(word, (turnsWith.get(word) ?? 0) + 1);
  const seen = new Set(contentWords(input.question));
  const added: string[] = [];
  turns.reverse().forEach((turn, newest) => {
    const topical = newest === 0 && (turn.names.size > 0 || turns.length === 1);
    for (const word of turn.words) {
      const refersTo = topical || turn.names.has(word) || (turnsWith.get(word) ?? 0) > 1;
      if (!refersTo || seen.has(word) || added.length >= MAX_ADDED_WORDS) continue;
      seen.add(word);
      added.push(word);
    }
  });
  return added.length === 0 ? input.question : `${input.question} ${added.join(' ')}`;
}

export const localCondenser: Condenser = {
  name: LOCAL_REWRITER,
  runnable: RunnableLambda.from(localKeywordsQuery).withConfig({ runName: LOCAL_REWRITER }),
};
