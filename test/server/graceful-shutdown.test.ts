import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { builtEntry } from '../support/built.js';
import { temporaryDir, unusedPort } from '../support/test-app.js';
import { imageNodeLane } from '../support/lanes.js';

describe('graceful shutdown of the real process', imageNodeLane, () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('on SIGTERM stops accepting, finishes the request in flight, flushes the store and exits 0', { timeout: 60_000 }, async () => {
    const llm = await NimEmulator.start({ models: [LLM_MODEL], chatLatencyMs: 1500 });
    cleanup.push(() => llm.stop());
    const dataDir = await temporaryDir('shutdown-');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await unusedPort();
    const child = spawn(process.execPath, ['--enable-source-maps', await builtEntry('server.js')], {
      env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', EMBEDDINGS_PROVIDER: 'local', NIM_LLM_URL: llm.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(async () => child.kill('SIGKILL'));
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (log += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
    const base = `http://127.0.0.1:${port}`;
    for (let waited = 0; !(await fetch(`${base}/v1/health/live`).catch(() => undefined))?.ok; waited += 100) {
      assert.ok(waited < 30_000, `the server did not start:\n${log}`);
      await sleep(100);
    }
    const ingest = await fetch(`${base}/v1/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documents: [{ id: 'food', text: 'Italy is famous for pasta, pizza, gelato, and espresso.' }] }),
    });
    assert.equal(ingest.status, 201);

    const inFlight = fetch(`${base}/v1/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'What is Italy famous for?' }),
    });
    await sleep(300);
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    await sleep(200);
    await assert.rejects(fetch(`${base}/v1/health/live`), 'no new connections once stopping');
    const answer = await inFlight;
    assert.equal(answer.status, 200, 'the request in flight was answered');
    assert.match(((await answer.json()) as { answer: string }).answer, /^Emulated answer from: Italy/);
    const [code] = await exited;
    assert.equal(code, 0, log);
    const files = await readdir(join(dataDir, 'collections', 'default'));
    assert.ok(files.some((file) => file.startsWith('snapshot-')), `the store was flushed to a snapshot: ${files.join(', ')}`);
    assert.match(log, /"msg":"snapshot written"/);
  });
});
