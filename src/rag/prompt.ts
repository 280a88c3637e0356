import type { BaseMessage } from '@langchain/core/messages';
import { ChatPromptTemplate, MessagesPlaceholder } from '@langchain/core/prompts';
import { RunnableBranch } from '@langchain/core/runnables';

const SYSTEM_TEMPLATE =
  'Answer using information solely based on the following context:\n<Documents>\n{context}\n</Documents>';
const LANGUAGE_TEMPLATE = '\nSpeak only in the following language: {language}';
/** The caller's own system messages, after the context rule, so they add to it and never replace it. */
const INSTRUCTIONS_TEMPLATE = '{instructions}';

export interface PromptInput {
  context: string;
  question: string;
  language?: string | undefined;
  /** Earlier turns of the conversation, oldest first; empty for a single question. */
  history: BaseMessage[];
  /** Empty, or the caller's system messages, each on a paragraph of its own. */
  instructions: string;
}

const withoutLanguage = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM_TEMPLATE + INSTRUCTIONS_TEMPLATE],
  new MessagesPlaceholder('history'),
  ['human', '{question}'],
]);

const withLanguage = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM_TEMPLATE + LANGUAGE_TEMPLATE + INSTRUCTIONS_TEMPLATE],
  new MessagesPlaceholder('history'),
  ['human', '{question}'],
]);

/** The caller's system messages as they follow the service's system prompt. */
export const instructionsText = (instructions: readonly string[] | undefined) =>
  instructions && instructions.length > 0 ? instructions.map((text) => `\n\n${text}`).join('') : '';

/**
 * The example's prompt: the language line is there only when a language is given; the conversation
 * so far comes between the system prompt and the question (nothing, for a single question).
 */
export const askPrompt = RunnableBranch.from<PromptInput, Awaited<ReturnType<typeof withoutLanguage.invoke>>>([
  [(input) => Boolean(input.language), withLanguage],
  withoutLanguage,
]);
