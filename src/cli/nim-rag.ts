#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { CliError, connect, type Connection, dataOf, EXIT, refusal, type Schemas, serverEvents } from './client.js';
import { chat } from './chat.js';
import { citation, sourceLines } from './citation.js';
import { ingest } from './ingest.js';

const USAGE = `nim-rag: the command line of the NIM RAG service (NIM_RAG_URL, NIM_RAG_API_KEY)

  nim-rag ingest <files|folders|globs>... [--collection NAME] [--metadata key=value]...
  nim-rag ask "question" [--language LANG] [--collection NAME] [-k N]
  nim-rag chat [--collection NAME] [--language LANG] [-k N] [--conversation ID]
  nim-rag search "query" [--collection NAME] [-k N]
  nim-rag collections
  nim-rag jobs <job id> [--cancel]

  --json    machine-readable output on stdout

chat keeps a conversation stored by the service, so follow-up questions are answered in context:
on a terminal it prompts and streams each answer, then the search query made of the question and
the sources (Ctrl-C stops an answer, Ctrl-D leaves); --conversation ID continues a stored one.
Not on a terminal it reads one question per line of stdin; with --json it prints one JSON object
per answer per line (conversation_id, question, standalone_query, answer, sources, timings).
Exit codes: 0 ok, 1 the service refused (a wrong key, an unknown conversation) or a file failed,
2 bad usage, 3 service unreachable, 130 interrupted (Ctrl-C during ingest cancels its job once the
files being stored are stored; Ctrl-C at the chat prompt leaves).`;

const OPTIONS = {
  collection: { type: 'string' },
  metadata: { type: 'string', multiple: true },
  language: { type: 'string' },
  conversation: { type: 'string' },
  k: { type: 'string', short: 'k' },
  json: { type: 'boolean', default: false },
  cancel: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function metadataOf(pairs: string[] = []): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new CliError(`--metadata ${pair}: expected key=value`, EXIT.usage);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

function kOf(values: Values): number | undefined {
  if (values.k === undefined) return undefined;
  const k = Number(values.k);
  if (!Number.isInteger(k) || k < 1) throw new CliError(`-k ${values.k}: expected a whole number from 1`, EXIT.usage);
  return k;
}

const single = (positionals: string[], what: string) => {
  if (positionals.length !== 1) throw new CliError(`expected one ${what} in quotes`, EXIT.usage);
  return positionals[0] as string;
};

async function ask(connection: Connection, positionals: string[], values: Values): Promise<number> {
  const body = { question: single(positionals, 'question'), language: values.language, collection: values.collection, k: kOf(values) };
  if (values.json) {
    print(dataOf(await connection.client.POST('/v1/ask', { body })));
    return EXIT.ok;
  }
  const { data, response, error } = await connection.client.POST('/v1/ask', { body: { ...body, stream: true }, parseAs: 'stream' });
  if (!response.ok || !data) throw refusal(response, error);
  let sources: Schemas['Source'][] = [];
  for await (const { event, data: payload } of serverEvents(data)) {
    if (event === 'sources') sources = (payload as Schemas['AskSourcesEvent']).sources;
    else if (event === 'token') process.stdout.write((payload as Schemas['AskTokenEvent']).text);
    else if (event === 'error') throw new CliError(`the answer failed: ${(payload as { detail?: string }).detail ?? 'unknown error'}`, EXIT.failed);
  }
  process.stdout.write(`\n\n${sourceLines(sources)}`);
  return EXIT.ok;
}

async function search(connection: Connection, positionals: string[], values: Values): Promise<number> {
  const result = dataOf(
    await connection.client.POST('/v1/search', { body: { query: single(positionals, 'query'), collection: values.collection, k: kOf(values) } }),
  );
  if (values.json) print(result);
  else for (const hit of result.results) process.stdout.write(`${hit.score.toFixed(3)}  ${citation(hit)}\n    ${hit.text.replace(/\s+/g, ' ').slice(0, 160)}\n`);
  return EXIT.ok;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${USAGE}`, EXIT.usage);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const connection = connect(process.env);
  switch (command) {
    case 'ingest': {
      const { summary, failed } = await ingest(connection, rest, { collection: values.collection, metadata: metadataOf(values.metadata), json: values.json });
      if (values.json) print(summary);
      return failed ? EXIT.failed : EXIT.ok;
    }
    case 'ask':
      return ask(connection, rest, values);
    case 'chat':
      if (rest.length > 0) throw new CliError('chat takes no question on the command line: it reads them from its prompt or stdin', EXIT.usage);
      return chat(connection, { collection: values.collection, language: values.language, k: kOf(values), conversation: values.conversation, json: values.json });
    case 'search':
      return search(connection, rest, values);
    case 'collections': {
      const { collections } = dataOf(await connection.client.GET('/v1/collections'));
      if (values.json) print({ collections });
      else for (const collection of collections) process.stdout.write(`${collection.name}\t${collection.documents} documents\t${collection.chunks} chunks\n`);
      return EXIT.ok;
    }
    case 'jobs': {
      const id = single(rest, 'job id');
      const params = { params: { path: { id } } };
      const job = dataOf(values.cancel ? await connection.client.DELETE('/v1/jobs/{id}', params) : await connection.client.GET('/v1/jobs/{id}', params));
      if (values.json) print(job);
      else {
        const { counts } = job;
        process.stdout.write(`${job.id} ${job.state}: files ${counts.files_done}/${counts.files} (${counts.files_failed} failed), chunks ${counts.chunks_done}/${counts.chunks}\n`);
        for (const file of job.files.filter((candidate) => candidate.error)) process.stdout.write(`  ${file.id}: ${file.error?.reason}\n`);
      }
      return EXIT.ok;
    }
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`, EXIT.usage);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`nim-rag: ${error instanceof CliError ? error.message : String((error as Error).stack ?? error)}\n`);
    process.exitCode = error instanceof CliError ? error.code : EXIT.failed;
  },
);
