import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { builtEntry } from '../support/built.js';
import { after, before, describe, it } from 'node:test';
import { makePdf, makeScannedPdf } from '../support/documents.js';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { startTestApp, temporaryDir, type TestApp, unusedPort } from '../support/test-app.js';
import { machineNodeLane } from '../support/lanes.js';

/** The package's bin, compiled, as `npm install` links it. */
const CLI = await builtEntry('cli/nim-rag.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it: a separate process, talking HTTP to the live server, with `input` piped to its stdin. */
function nimRag(args: string[], options: { cwd: string; env: Record<string, string>; input?: string }): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

describe('the nim-rag CLI, as a subprocess against the live server', machineNodeLane, () => {
  let test: TestApp;
  let folder: string;
  let env: Record<string, string>;
  const KEY = 'cli-test-key-0123456789';

  before(async () => {
    test = await startTestApp({ EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', API_KEYS: KEY });
    env = { NIM_RAG_URL: await test.app.listen({ port: 0, host: '127.0.0.1' }), NIM_RAG_API_KEY: KEY };
    folder = await temporaryDir('rag-cli-');
    await mkdir(join(folder, 'docs', 'deep'), { recursive: true });
    await writeFile(join(folder, 'docs', 'report.pdf'), await makePdf(['Annual report\nSales rose.', 'Operations\nThe Lisbon warehouse opened in March.']));
    await writeFile(join(folder, 'docs', 'deep', 'notes.md'), '# Llamas\n\nLlamas hum when they are curious.\n');
    await writeFile(join(folder, 'docs', 'scan.pdf'), await makeScannedPdf(1));
    await writeFile(join(folder, 'docs', 'ignored.png'), 'not looked at: folders are searched for supported extensions');
  });
  after(async () => {
    await test.close();
    await rm(folder, { recursive: true, force: true });
  });

  let jobId: string;

  it('ingest: a folder, recursively; a file that fails makes the exit code 1 and is named', async () => {
    const run = await nimRag(['ingest', 'docs', '--metadata', 'team=ops', '--json'], { cwd: folder, env });
    assert.equal(run.code, 1, run.stderr);
    const summary = JSON.parse(run.stdout);
    const states = Object.fromEntries(summary.files.map((file: any) => [file.id, file.state]));
    assert.deepEqual(states, { 'docs/deep/notes.md': 'done', 'docs/report.pdf': 'done', 'docs/scan.pdf': 'failed' });
    assert.match(summary.files.find((file: any) => file.id === 'docs/scan.pdf').error.reason, /text layer/);
    jobId = summary.jobs[0];
  });

  it('ingest into a collection that does not exist yet creates it, as the API does', async () => {
    const run = await nimRag(['ingest', 'docs/deep', '--collection', 'manuals'], { cwd: folder, env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /1 files: 0 unchanged, 1 to ingest/);
    assert.match(run.stderr, /done: 1 ingested, 0 failed/);
    const listed = await fetch(`${env.NIM_RAG_URL}/v1/documents?collection=manuals`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.deepEqual(((await listed.json()) as any).documents.map((document: any) => document.id), ['docs/deep/notes.md#section-1']);
    const again = await nimRag(['ingest', 'docs/deep', '--collection', 'manuals'], { cwd: folder, env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /1 files: 1 unchanged, 0 to ingest/);
  });

  it('ingest: a service that is not there exits 3 saying so; a refused key exits 1 quoting the 401', async () => {
    const [noServer, wrongKey] = await Promise.all([
      nimRag(['ingest', 'docs'], { cwd: folder, env: { ...env, NIM_RAG_URL: `http://127.0.0.1:${await unusedPort()}` } }),
      nimRag(['ingest', 'docs'], { cwd: folder, env: { ...env, NIM_RAG_API_KEY: 'wrong-key-0123456789' } }),
    ]);
    assert.equal(noServer.code, 3, noServer.stderr);
    assert.match(noServer.stderr, /^nim-rag: cannot reach the service at http:\/\/127\.0\.0\.1:\d+ \(.*\); set NIM_RAG_URL\n$/);
    assert.equal(wrongKey.code, 1, wrongKey.stderr);
    assert.match(wrongKey.stderr, /^nim-rag: 401 /);
  });

  it('ingest again skips unchanged files; plain lines when not a terminal', async () => {
    const run = await nimRag(['ingest', 'docs/report.pdf', 'docs/**/*.md'], { cwd: folder, env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /2 files: 2 unchanged, 0 to ingest/);
    assert.doesNotMatch(run.stderr, /\r/);
  });

  it('ask streams an answer citing file and page; search, collections and jobs answer; exit codes say what went wrong', async () => {
    const unreachable = { NIM_RAG_URL: `http://127.0.0.1:${await unusedPort()}` };
    const [ask, search, collections, job, usage, noServer, wrongKey] = await Promise.all([
      nimRag(['ask', 'When did the Lisbon warehouse open?', '-k', '2'], { cwd: folder, env }),
      nimRag(['search', 'llamas hum', '--json'], { cwd: folder, env }),
      nimRag(['collections', '--json'], { cwd: folder, env }),
      nimRag(['jobs', jobId, '--json'], { cwd: folder, env }),
      nimRag(['ingest'], { cwd: folder, env }),
      nimRag(['collections'], { cwd: folder, env: { ...env, ...unreachable } }),
      nimRag(['collections'], { cwd: folder, env: { ...env, NIM_RAG_API_KEY: 'wrong-key-0123456789' } }),
    ]);
    assert.equal(ask.code, 0, ask.stderr);
    assert.match(ask.stdout, /Lisbon warehouse opened in March/);
    assert.match(ask.stdout, /\[1\] report\.pdf, page 2/);

    assert.equal(search.code, 0, search.stderr);
    const [hit] = JSON.parse(search.stdout).results;
    assert.deepEqual([hit.id, hit.metadata.heading, hit.metadata.team], ['docs/deep/notes.md#section-1', 'Llamas', 'ops']);

    assert.deepEqual(JSON.parse(collections.stdout).collections.map((collection: any) => [collection.name, collection.documents]), [['default', 3], ['manuals', 1]]);
    assert.deepEqual([job.code, JSON.parse(job.stdout).state], [0, 'completed']);

    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /needs files, folders or globs/);
    assert.equal(noServer.code, 3);
    assert.match(noServer.stderr, /cannot reach the service/);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /401/);
  });

  let conversationId: string;

  it('chat: questions piped in, one JSON answer a line; the follow-up is searched with the first turn; --conversation continues it', async () => {
    const run = await nimRag(['chat', '--json', '-k', '1'], { cwd: folder, env, input: 'When did the Lisbon warehouse open?\n\nWhich month was that?\n' });
    assert.equal(run.code, 0, run.stderr);
    const [first, second, ...more] = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(more, [], 'one line per answer, none for the blank line');
    conversationId = first.conversation_id;
    assert.match(conversationId, /^conv_[0-9a-f]{32}$/);
    assert.equal(second.conversation_id, conversationId);
    assert.deepEqual([first.question, first.standalone_query, first.timings.rewriter], ['When did the Lisbon warehouse open?', 'When did the Lisbon warehouse open?', 'none']);
    assert.equal(second.question, 'Which month was that?');
    assert.match(second.standalone_query, /^Which month was that\?.*\bLisbon\b.*\bwarehouse\b/i);
    assert.equal(second.timings.rewriter, 'local-keywords');
    assert.deepEqual(second.sources.map((source: any) => [source.metadata.source, source.metadata.page]), [['report.pdf', 2]]);
    assert.match(second.answer, /Lisbon warehouse opened in March/);

    const resumed = await nimRag(['chat', '--conversation', conversationId, '-k', '1'], { cwd: folder, env, input: 'And what do llamas do when curious?\n' });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`^conversation ${conversationId} \\(continue it with: nim-rag chat --conversation ${conversationId}\\)\n$`));
    const printed = /^> And what do llamas do when curious\?\n(?<answer>[\s\S]*)\n\nSearched for: (?<query>.*)\nSources:\n {2}\[1\] notes\.md, Llamas \(score \d\.\d\d\)\n\n$/.exec(resumed.stdout);
    assert.ok(printed?.groups, resumed.stdout);
    assert.match(printed.groups.answer!, /^Llamas hum when they are curious\./);
    assert.match(printed.groups.query!, /^And what do llamas do when curious\? .*\blisbon\b/i, 'searched with the words of the earlier turns too');

    const stored = await fetch(`${env.NIM_RAG_URL}/v1/conversations/${conversationId}`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(stored.status, 200);
    const conversation = (await stored.json()) as any;
    assert.equal(conversation.collection, 'default');
    assert.deepEqual(
      conversation.turns.map((turn: any) => [turn.question, turn.standalone_query, turn.answer]),
      [
        [first.question, first.standalone_query, first.answer],
        [second.question, second.standalone_query, second.answer],
        ['And what do llamas do when curious?', printed.groups.query, printed.groups.answer],
      ],
    );
  });

  it('chat: an unknown or deleted conversation, another collection, a refused key and a missing service each exit with a clear message', async () => {
    const deleted = await fetch(`${env.NIM_RAG_URL}/v1/conversations/${conversationId}`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(deleted.status, 204);
    const unknownId = `conv_${'0'.repeat(32)}`;
    const input = 'Is anyone there?\n';
    const [unknown, gone, otherCollection, wrongKey, noServer, usage] = await Promise.all([
      nimRag(['chat', '--conversation', unknownId, '--json'], { cwd: folder, env, input }),
      nimRag(['chat', '--conversation', conversationId], { cwd: folder, env, input }),
      (async () => {
        const created = await fetch(`${env.NIM_RAG_URL}/v1/conversations`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{}' });
        const { id } = (await created.json()) as { id: string };
        return nimRag(['chat', '--conversation', id, '--collection', 'manuals'], { cwd: folder, env, input });
      })(),
      nimRag(['chat', '--json'], { cwd: folder, env: { ...env, NIM_RAG_API_KEY: 'wrong-key-0123456789' }, input }),
      nimRag(['chat'], { cwd: folder, env: { ...env, NIM_RAG_URL: `http://127.0.0.1:${await unusedPort()}` }, input }),
      nimRag(['chat', 'a question on the command line'], { cwd: folder, env, input }),
    ]);
    const notFound = (id: string) => new RegExp(`^nim-rag: no conversation ${id}: it was deleted, has expired, or was started with another API key \\(leave out --conversation to start one\\)\n$`);
    assert.deepEqual([unknown.code, unknown.stdout], [1, '']);
    assert.match(unknown.stderr, notFound(unknownId));
    assert.deepEqual([gone.code, gone.stdout], [1, '']);
    assert.match(gone.stderr, notFound(conversationId));
    assert.equal(otherCollection.code, 2, otherCollection.stderr);
    assert.match(otherCollection.stderr, /is on collection "default", not "manuals"/);
    assert.equal(wrongKey.code, 1, wrongKey.stderr);
    assert.match(wrongKey.stderr, /^nim-rag: 401 /);
    assert.equal(noServer.code, 3, noServer.stderr);
    assert.match(noServer.stderr, /^nim-rag: cannot reach the service at/);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /chat takes no question on the command line/);
  });
});

describe('nim-rag ingest interrupted with Ctrl-C', machineNodeLane, () => {
  let nim: NimEmulator;
  let test: TestApp;
  let folder: string;
  let env: Record<string, string>;
  const FILES = 6;

  before(async () => {
    // Slow embeddings, one request at a time: a run takes a few seconds, time enough to interrupt it.
    nim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 60, maxConcurrentEmbeddings: 1 });
    test = await startTestApp({ NIM_EMBEDDINGS_URL: nim.url, LLM_PROVIDER: 'local', EMBEDDINGS_BATCH_SIZE: '2', EMBEDDINGS_MAX_CONCURRENCY: '1', CHUNK_SIZE: '80', CHUNK_OVERLAP: '0' });
    env = { NIM_RAG_URL: await test.app.listen({ port: 0, host: '127.0.0.1' }) };
    folder = await temporaryDir('rag-cli-interrupt-');
    await mkdir(join(folder, 'notes'));
    for (let file = 0; file < FILES; file++) {
      const text = Array.from({ length: 6 }, (_, line) => `Note ${line} of file ${file}: a sentence that makes a chunk of its own.`).join('\n\n');
      await writeFile(join(folder, 'notes', `note-${file}.txt`), text);
    }
  });
  after(async () => {
    await test.close();
    await nim.stop();
    await rm(folder, { recursive: true, force: true });
  });

  const storedFiles = async () => {
    const listed = (await (await fetch(`${env.NIM_RAG_URL}/v1/documents?collection=notes&limit=1000`)).json()) as any;
    return new Set<string>((listed.documents ?? []).map((document: any) => document.metadata.file_id as string));
  };

  it('cancels its job once the files being stored are stored, exits 130, and a rerun sends only what is missing', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, [CLI, 'ingest', 'notes', '--collection', 'notes'], { cwd: folder, env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = once(child, 'exit');
    while ((await storedFiles()).size === 0) {
      assert.equal(child.exitCode, null, `the run ended before it could be interrupted: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 130, stderr);
    const match = /interrupted: job \S+ cancelled, (\d+) of its 6 files stored; run the same command again/.exec(stderr);
    assert.ok(match, stderr);
    const stored = await storedFiles();
    assert.equal(stored.size, Number(match[1]), 'the files it says are stored are stored');
    assert.ok(stored.size < FILES, 'the interruption left files to ingest');
    const embeddedBefore = nim.requestsTo('/v1/embeddings').length;

    const rerun = await nimRag(['ingest', 'notes', '--collection', 'notes'], { cwd: folder, env });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, new RegExp(`6 files: ${stored.size} unchanged, ${FILES - stored.size} to ingest`));
    assert.equal((await storedFiles()).size, FILES);
    const texts = nim.requestsTo('/v1/embeddings').slice(embeddedBefore).flatMap((request) => request.body.input as string[]);
    const reEmbedded = texts.filter((text) => [...stored].some((id) => text.includes(`file ${/note-(\d+)/.exec(id)?.[1]}:`)));
    assert.deepEqual(reEmbedded, [], 'nothing of the files stored before the interruption is embedded again');
  });
});
