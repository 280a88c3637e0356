import { createInterface } from 'node:readline/promises';
import { sourceLines } from './citation.js';
import { CliError, type Connection, dataOf, EXIT, refusal, type Schemas, serverEvents } from './client.js';

export interface ChatOptions {
  collection: string | undefined;
  language: string | undefined;
  k: number | undefined;
  /** The id of a stored conversation to continue; a new one is created without it. */
  conversation: string | undefined;
  json: boolean;
}

type Conversation = Schemas['Conversation'];

/** One answered turn, as `--json` prints it: the fields of an ask's JSON answer, with the question. */
export interface ChatAnswer {
  conversation_id: string;
  question: string;
  standalone_query: string;
  answer: string;
  sources: Array<Schemas['Source']>;
  model: string;
  finish_reason?: string;
  usage?: Schemas['Usage'];
  timings: Schemas['AskTimings'];
}

/** Refusals after which no further question can be answered: the key, or the conversation, is gone. */
const FATAL_STATUSES = new Set([401, 403, 404]);

async function openConversation({ client }: Connection, options: ChatOptions): Promise<Conversation> {
  if (options.conversation === undefined) return dataOf(await client.POST('/v1/conversations', { body: { collection: options.collection } }));
  const id = options.conversation;
  const result = await client.GET('/v1/conversations/{id}', { params: { path: { id } } });
  if (result.response.status === 404) {
    throw new CliError(`no conversation ${id}: it was deleted, has expired, or was started with another API key (leave out --conversation to start one)`, EXIT.failed, 404);
  }
  const conversation = dataOf(result);
  if (options.collection !== undefined && options.collection !== conversation.collection) {
    throw new CliError(`conversation ${id} is on collection "${conversation.collection}", not "${options.collection}"`, EXIT.usage);
  }
  return conversation;
}

/**
 * Asks one question in the conversation through the streamed /v1/ask, handing each piece of the
 * answer to `onToken` as it arrives; the service stores the turn once the answer is complete.
 */
async function askInConversation(
  { client }: Connection,
  conversation: Conversation,
  question: string,
  options: ChatOptions,
  onToken: (text: string) => void,
  signal: AbortSignal,
): Promise<ChatAnswer> {
  // The conversation's collection, named: a key limited to some collections is checked against the one asked.
  const body = { question, conversation_id: conversation.id, collection: conversation.collection, language: options.language, k: options.k, stream: true };
  const { data, response, error } = await client.POST('/v1/ask', { body, parseAs: 'stream', signal });
  if (!response.ok || !data) throw refusal(response, error);
  let retrieved: Schemas['AskSourcesEvent'] | undefined;
  for await (const { event, data: payload } of serverEvents(data)) {
    if (event === 'sources') retrieved = payload as Schemas['AskSourcesEvent'];
    else if (event === 'token') onToken((payload as Schemas['AskTokenEvent']).text);
    else if (event === 'error') throw new CliError(`the answer failed: ${(payload as { detail?: string }).detail ?? 'unknown error'}`, EXIT.failed);
    else if (event === 'done') {
      const done = payload as Schemas['AskDoneEvent'];
      return {
        conversation_id: conversation.id,
        question,
        standalone_query: retrieved?.standalone_query ?? question,
        answer: done.answer,
        sources: retrieved?.sources ?? [],
        model: done.model,
        ...(done.finish_reason === undefined ? {} : { finish_reason: done.finish_reason }),
        ...(done.usage === undefined ? {} : { usage: done.usage }),
        timings: done.timings,
      };
    }
  }
  throw new CliError('the service ended the stream before the answer was complete', EXIT.failed);
}

/**
 * `nim-rag chat`: a conversation stored by the service, so follow-up questions are answered in its
 * context. On a terminal it prompts, streams each answer, then prints the search query the service
 * made of the question and the sources; Ctrl-C stops the answer being written (that turn is not
 * stored), at the prompt it leaves. Otherwise it reads one question per line of stdin, and with
 * `--json` prints one JSON object per answer per line.
 */
export async function chat(connection: Connection, options: ChatOptions): Promise<number> {
  const interactive = Boolean(process.stdin.isTTY) && !options.json;
  const out = (text: string) => process.stdout.write(text);
  const conversation = await openConversation(connection, options);
  const lines = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  let answering: AbortController | undefined;
  let interrupted = false;
  lines.on('SIGINT', () => {
    if (answering) answering.abort();
    else {
      interrupted = true;
      lines.close();
    }
  });

  const resume = `nim-rag chat --conversation ${conversation.id}`;
  if (interactive) {
    out(`Conversation ${conversation.id} on collection "${conversation.collection}" (continue it later with: ${resume}).\n`);
    for (const turn of conversation.turns) out(`> ${turn.question}\n${turn.answer}\n\n`);
    out('Ask a question; Ctrl-D leaves.\n');
    lines.setPrompt('> ');
    lines.prompt();
  } else if (!options.json) process.stderr.write(`conversation ${conversation.id} (continue it with: ${resume})\n`);

  try {
    for await (const line of lines) {
      const question = line.trim();
      if (question) {
        answering = new AbortController();
        try {
          if (!interactive && !options.json) out(`> ${question}\n`);
          const answered = await askInConversation(connection, conversation, question, options, options.json ? () => undefined : out, answering.signal);
          if (options.json) out(`${JSON.stringify(answered)}\n`);
          else out(`\n\nSearched for: ${answered.standalone_query}\n${sourceLines(answered.sources)}\n`);
        } catch (error) {
          if (answering.signal.aborted) out('\n(stopped; this turn is not stored)\n');
          else if (!interactive || !(error instanceof CliError) || error.code === EXIT.unreachable || FATAL_STATUSES.has(error.status ?? 0)) throw error;
          else process.stderr.write(`\nnim-rag: ${error.message}\n`);
        } finally {
          answering = undefined;
        }
      }
      if (interactive) lines.prompt();
    }
  } finally {
    lines.close();
  }
  if (interactive) out('\n');
  return interrupted ? EXIT.interrupted : EXIT.ok;
}
