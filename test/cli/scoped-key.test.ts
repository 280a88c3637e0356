import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { builtEntry } from '../support/built.js';
import { startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';
import { machineNodeLane } from '../support/lanes.js';

const CLI = await builtEntry('cli/nim-rag.js');
const READER = 'cli-reader-key-0123456789';
const WRITER = 'cli-writer-key-0123456789';

const nimRag = (args: string[], cwd: string, env: Record<string, string>, input = '') =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });

describe('the nim-rag CLI with a scoped key', machineNodeLane, () => {
  let test: TestApp;
  let folder: string;
  let env: Record<string, string>;

  before(async () => {
    folder = await temporaryDir('rag-cli-keys-');
    await writeFile(
      join(folder, 'keys.yaml'),
      `keys:\n  - {name: reader, key: ${READER}, scopes: [read], collections: ["app-a-*"]}\n  - {name: writer, key: ${WRITER}, scopes: [read, write], collections: ["*"]}\n`,
    );
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

  it('chats in a collection the key may use, follow-ups included; a conversation elsewhere is refused', async () => {
    const stored = await test.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: { authorization: `Bearer ${WRITER}` },
      payload: { collection: 'app-a-notes', documents: [{ id: 'llamas', text: 'Llamas hum when they are curious.' }] },
    });
    assert.equal(stored.statusCode, 201, stored.body);
    const [allowed, refused] = await Promise.all([
      nimRag(['chat', '--collection', 'app-a-notes', '--json'], folder, env, 'What do llamas do?\nAnd when?\n'),
      nimRag(['chat', '--json'], folder, env, 'What do llamas do?\n'),
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    const answers = allowed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(answers.map((answer) => answer.question), ['What do llamas do?', 'And when?']);
    assert.equal(answers[1].conversation_id, answers[0].conversation_id);
    assert.deepEqual(answers.map((answer) => answer.sources[0]?.id), ['llamas', 'llamas']);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /403 Forbidden: the API key "reader" may not use the collection "default"/);
  });
});
