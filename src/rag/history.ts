import { badRequest, ProblemError } from '../errors.js';

/** One earlier message of a conversation, as the prompts carry it. */
export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** A request's conversation: the caller's instructions, the earlier messages, and the question to answer. */
export interface Conversation {
  /** The caller's system messages, appended after the service's own system prompt. */
  instructions: string[];
  history: HistoryMessage[];
  question: string;
}

export interface HistoryBudget {
  /** Earlier question–answer turns kept at most. */
  maxTurns: number;
  /** Characters of the earlier messages and the question together, at most. */
  maxChars: number;
}

/** A message as callers send it: OpenAI's roles (`developer` is OpenAI's newer name for `system`), its text already extracted. */
export interface IncomingMessage {
  role: string;
  content: string;
}

/**
 * Reads an OpenAI-shaped message list as a conversation, or says with a 400 what is wrong with it,
 * before any model is called: only system, developer, user and assistant roles, no empty
 * message, and the last one a user's, which is the question.
 */
export function conversationOf(messages: readonly IncomingMessage[]): Conversation {
  if (messages.length === 0) throw badRequest('messages: at least one message is needed, the last one a user message (the question)');
  const instructions: string[] = [];
  const history: HistoryMessage[] = [];
  messages.forEach((message, position) => {
    const content = message.content.trim();
    if (!content) throw badRequest(`messages[${position}]: the content is empty; every message needs text`);
    if (message.role === 'system' || message.role === 'developer') instructions.push(content);
    else if (message.role === 'user' || message.role === 'assistant') history.push({ role: message.role, content });
    else throw badRequest(`messages[${position}]: role ${JSON.stringify(message.role)} is not one this service answers (system, user or assistant)`);
  });
  const last = messages.at(-1) as IncomingMessage;
  if (last.role !== 'user') throw badRequest(`messages: the last message must be a user message (the question), not a ${last.role} message`);
  const question = history.pop() as HistoryMessage;
  return { instructions, history, question: question.content };
}

/** Earlier messages grouped as turns: a user message with the replies that followed it (a leading reply is a turn of its own). */
function turnsOf(history: readonly HistoryMessage[]): HistoryMessage[][] {
  const turns: HistoryMessage[][] = [];
  for (const message of history) {
    const current = turns.at(-1);
    if (message.role === 'user' || !current) turns.push([message]);
    else current.push(message);
  }
  return turns;
}

export const conversationTooLong = (detail: string) =>
  new ProblemError({ status: 413, slug: 'conversation-too-long', title: 'Conversation Too Long', detail });

/**
 * The history that fits the budget: whole turns, the newest kept and the oldest dropped first,
 * until both the turn count and the characters (with the question's) fit. The system prompt and
 * the question are always kept; only a question that alone exceeds the characters is refused (413).
 */
export function withinBudget(history: readonly HistoryMessage[], question: string, budget: HistoryBudget): HistoryMessage[] {
  if (question.length > budget.maxChars) {
    throw conversationTooLong(`the question is ${question.length} characters, more than HISTORY_MAX_CHARS (${budget.maxChars}) allows a prompt's conversation`);
  }
  const kept: HistoryMessage[][] = [];
  let chars = question.length;
  for (const turn of turnsOf(history).reverse()) {
    if (kept.length >= budget.maxTurns) break;
    const size = turn.reduce((sum, message) => sum + message.content.length, 0);
    if (chars + size > budget.maxChars) break;
    chars += size;
    kept.unshift(turn);
  }
  return kept.flat();
}
