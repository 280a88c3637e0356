import { createHash } from 'node:crypto';
import { createReadStream, openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, relative, resolve, sep } from 'node:path';
import { glob } from 'tinyglobby';
import { CliError, type Connection, dataOf, EXIT, refusal, type Schemas, serverEvents } from './client.js';
import { ProgressView } from './progress.js';

/** What a folder is searched for; a named file is sent whatever its extension (the service decides by content). */
const SUPPORTED = '**/*.{pdf,docx,html,htm,xhtml,md,markdown,txt,text}';
const BATCH_FILES = 50;
const BATCH_BYTES = 64 * 1024 ** 2;

interface LocalFile {
  path: string;
  /** The id it is stored under: its path relative to the working directory, with `/`. */
  id: string;
  name: string;
  bytes: number;
}

export interface IngestOptions {
  collection: string | undefined;
  metadata: Record<string, string>;
  json: boolean;
}

export interface IngestSummary {
  files: Array<Schemas['Job']['files'][number]>;
  skipped: string[];
  jobs: string[];
}

async function expand(args: string[], cwd: string): Promise<string[]> {
  const found = new Set<string>();
  for (const arg of args) {
    const info = await stat(resolve(cwd, arg)).catch(() => undefined);
    const matches = info?.isFile()
      ? [resolve(cwd, arg)]
      : await glob(info?.isDirectory() ? SUPPORTED : arg, { cwd: info?.isDirectory() ? resolve(cwd, arg) : cwd, absolute: true, onlyFiles: true });
    if (matches.length === 0) throw new CliError(`${arg}: no such file, and no supported file matches`, EXIT.usage);
    for (const match of matches) found.add(match);
  }
  return [...found].sort();
}

const sha256Of = (path: string) =>
  new Promise<string>((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => done(hash.digest('hex')))
      .on('error', fail);
  });

/** file_id → file_sha256 of every file the collection holds, from the documents' metadata; none for a collection not created yet. */
async function storedFiles({ client }: Connection, collection: string | undefined): Promise<Map<string, string>> {
  const stored = new Map<string, string>();
  let cursor: string | undefined;
  do {
    const result = await client.GET('/v1/documents', { params: { query: { collection, limit: 1000, cursor } } });
    // The upload creates it, as any first write does.
    if (result.response.status === 404 && cursor === undefined) return stored;
    const page = dataOf(result);
    for (const document of page.documents) {
      const { file_id: id, file_sha256: sha } = document.metadata as { file_id?: unknown; file_sha256?: unknown };
      if (typeof id === 'string' && typeof sha === 'string') stored.set(id, sha);
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return stored;
}

/** Uploads in batches of distinct names (the form names each file by its base name), bounded in count and bytes. */
function batches(files: LocalFile[]): LocalFile[][] {
  const result: LocalFile[][] = [];
  let current: LocalFile[] = [];
  let bytes = 0;
  for (const file of files) {
    const full = current.length >= BATCH_FILES || bytes + file.bytes > BATCH_BYTES || current.some((other) => other.name === file.name);
    if (full && current.length > 0) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.bytes;
  }
  if (current.length > 0) result.push(current);
  return result;
}

async function submit(connection: Connection, batch: LocalFile[], options: IngestOptions): Promise<Schemas['Job']> {
  const form = new FormData();
  if (Object.keys(options.metadata).length > 0) form.append('metadata', JSON.stringify(options.metadata));
  form.append('ids', JSON.stringify(Object.fromEntries(batch.map((file) => [file.name, file.id]))));
  for (const file of batch) form.append('file', await openAsBlob(file.path), file.name);
  const result = await connection.client.POST('/v1/files', {
    params: { query: { collection: options.collection, async: true } },
    body: form as never,
    bodySerializer: (body: unknown) => body as FormData,
  });
  return dataOf(result) as Schemas['Job'];
}

/** Follows a job's event stream to its end, showing progress; returns the finished job. */
async function follow(connection: Connection, job: Schemas['Job'], view: ProgressView | undefined): Promise<Schemas['Job']> {
  const { data, response } = await connection.client.GET('/v1/jobs/{id}/events', { params: { path: { id: job.id } }, parseAs: 'stream' });
  if (!response.ok || !data) throw refusal(response, undefined);
  let last = job;
  for await (const { data: update } of serverEvents(data)) {
    last = update as Schemas['Job'];
    view?.update(last);
  }
  return last;
}

/** The job being followed, and whether Ctrl-C asked to stop. */
interface Run {
  job: string | undefined;
  interrupted: boolean;
}

/**
 * Ctrl-C while a job runs cancels it (the service finishes the files it is storing, so none is
 * left half-stored) and the command ends with EXIT.interrupted once the job says it stopped; with
 * no job under way, or at a second Ctrl-C, the command ends at once. Returns the way to stop listening.
 */
function cancelOnInterrupt(connection: Connection, run: Run): () => void {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const handler = () => {
    if (run.interrupted || run.job === undefined) process.exit(EXIT.interrupted);
    run.interrupted = true;
    say('interrupted: cancelling the job; the files being stored finish first (Ctrl-C again to leave now, the job still running)');
    connection.client
      .DELETE('/v1/jobs/{id}', { params: { path: { id: run.job } } })
      .then(({ response }) => {
        // 409: it finished meanwhile, which its event stream is about to say.
        if (!response.ok && response.status !== 409) throw new Error(`${response.status} ${response.statusText}`);
      })
      .catch((error: unknown) => {
        say(`could not cancel the job: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(EXIT.interrupted);
      });
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

/**
 * `nim-rag ingest`: finds the files, skips those the collection already holds with the same
 * content (by SHA-256), uploads the rest as background jobs and follows them. Running it again
 * after an interruption picks up what is missing.
 */
export async function ingest(connection: Connection, args: string[], options: IngestOptions, cwd = process.cwd()): Promise<{ summary: IngestSummary; failed: boolean }> {
  const log = (line: string) => options.json || process.stderr.write(`${line}\n`);
  const run: Run = { job: undefined, interrupted: false };
  const stopListening = cancelOnInterrupt(connection, run);
  try {
    return await ingestFiles(connection, args, options, cwd, log, run);
  } finally {
    stopListening();
  }
}

async function ingestFiles(
  connection: Connection,
  args: string[],
  options: IngestOptions,
  cwd: string,
  log: (line: string) => void,
  run: Run,
): Promise<{ summary: IngestSummary; failed: boolean }> {
  if (args.length === 0) throw new CliError('ingest needs files, folders or globs', EXIT.usage);
  const paths = await expand(args, cwd);
  const stored = await storedFiles(connection, options.collection);
  const summary: IngestSummary = { files: [], skipped: [], jobs: [] };
  const pending: LocalFile[] = [];
  for (const path of paths) {
    const id = relative(cwd, path).split(sep).join('/');
    if (stored.get(id) === (await sha256Of(path))) summary.skipped.push(id);
    else pending.push({ path, id, name: basename(path), bytes: (await stat(path)).size });
  }
  log(`${paths.length} files: ${summary.skipped.length} unchanged, ${pending.length} to ingest`);
  let done = 0;
  for (const batch of batches(pending)) {
    const job = await submit(connection, batch, options);
    summary.jobs.push(job.id);
    run.job = job.id;
    const view = options.json ? undefined : new ProgressView(process.stderr, { done, total: pending.length });
    const finished = await follow(connection, job, view);
    run.job = undefined;
    view?.finish();
    summary.files.push(...finished.files);
    done += batch.length;
    if (run.interrupted) {
      const stored = finished.files.filter((file) => file.state === 'done').length;
      throw new CliError(`interrupted: job ${job.id} ${finished.state}, ${stored} of its ${finished.files.length} files stored; run the same command again to ingest the rest`, EXIT.interrupted);
    }
    if (finished.state === 'cancelled') throw new CliError(`job ${job.id} was cancelled`, EXIT.failed);
  }
  const failed = summary.files.filter((file) => file.state === 'failed').length;
  log(`done: ${summary.files.length - failed} ingested, ${failed} failed, ${summary.skipped.length} unchanged`);
  return { summary, failed: failed > 0 };
}
