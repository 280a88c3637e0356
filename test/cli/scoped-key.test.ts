import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { builtEntry } from '../support/built.js';
import { startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';

const CLI = await builtEntry('cli/nim-rag.js');
const READER = 'cli-reader-key-0123456789';

const nimRag = (args: string[], cwd: string, env: Record<string, string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

describe('the nim-rag CLI with a scoped key', () => {
  let test: TestApp;
  let folder: string;
  let env: Record<string, string>;

  before(async () => {
    folder = await temporaryDir('rag-cli-keys-');
    await writeFile(join(folder, 'keys.yaml'), `keys:\n  - {name: reader, key: ${READER}, scopes: [read], collections: ["app-a-*"]}\n`);
    await mkdir(join(folder, 'docs'));
    await writeFile(join(folder, 'docs', 'note.md'), '# Note\n\nLlamas hum.\n');
    test = await startTestApp({ API_KEYS_FILE: join(folder, 'keys.yaml') });
    env = { NIM_RAG_URL: await test.app.listen({ port: 0, host: '127.0.0.1' }), NIM_RAG_API_KEY: READER };
  });
  after(() => test.close());

  it('sends its key, and a refusal names the scope the key lacks or the collection it may not use', async () => {
    // A 403 naming the key, not a 401: the key was sent.
    const ingest = await nimRag(['ingest', 'docs', '--collection', 'app-a-notes'], folder, env);
    assert.equal(ingest.code, 1, ingest.stdout);
    assert.match(ingest.stderr, /403 Forbidden: the API key "reader" lacks the write scope that POST \/v1\/files needs/);
    const search = await nimRag(['search', 'llamas', '--collection', 'app-b'], folder, env);
    assert.equal(search.code, 1, search.stdout);
    assert.match(search.stderr, /403 Forbidden: the API key "reader" may not use the collection "app-b"; it may use app-a-\*/);
  });
});
