import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableBranch } from '@langchain/core/runnables';

const SYSTEM_TEMPLATE =
  'Answer using information solely based on the following context:\n<Documents>\n{context}\n</Documents>';
const LANGUAGE_TEMPLATE = '\nSpeak only in the following language: {language}';

export interface PromptInput {
  context: string;
  question: string;
  language?: string | undefined;
}

const withoutLanguage = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM_TEMPLATE],
  ['human', '{question}'],
]);

const withLanguage = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM_TEMPLATE + LANGUAGE_TEMPLATE],
  ['human', '{question}'],
]);

/** The example's prompt: the language line is there only when a language is given. */
export const askPrompt = RunnableBranch.from<PromptInput, Awaited<ReturnType<typeof withoutLanguage.invoke>>>([
  [(input) => Boolean(input.language), withLanguage],
  withoutLanguage,
]);
