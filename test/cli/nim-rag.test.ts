import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { makePdf, makeScannedPdf } from '../support/documents.js';
import { startTestApp, temporaryDir, type TestApp, unusedPort } from '../support/test-app.js';

const CLI = fileURLToPath(new URL('../../src/cli/nim-rag.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it: a separate process, talking HTTP to the live server. */
function nimRag(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the nim-rag CLI, as a subprocess against the live server', () => {
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

    assert.deepEqual(JSON.parse(collections.stdout).collections.map((collection: any) => [collection.name, collection.documents]), [['default', 3]]);
    assert.deepEqual([job.code, JSON.parse(job.stdout).state], [0, 'completed']);

    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /needs files, folders or globs/);
    assert.equal(noServer.code, 3);
    assert.match(noServer.stderr, /cannot reach the service/);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /401/);
  });
});
