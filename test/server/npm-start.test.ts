import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { temporaryDir, unusedPort } from '../support/test-app.js';
import { machineNodeLane } from '../support/lanes.js';
import { lockDataDir } from '../../src/store/data-dir-lock.js';

describe('npm start, as a supervisor runs it', machineNodeLane, () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('serves, and a SIGTERM sent to the npm process stops the server and frees DATA_DIR', { timeout: 120_000 }, async () => {
    const dataDir = await temporaryDir('npm-start-');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await unusedPort();
    const npm = spawn('npm', ['start'], {
      env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    npm.stdout.setEncoding('utf8').on('data', (text: string) => (log += text));
    npm.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
    const exited = once(npm, 'exit') as Promise<[number | null, string | null]>;
    cleanup.push(async () => npm.kill('SIGKILL'));
    const live = () => fetch(`http://127.0.0.1:${port}/v1/health/live`).then((response) => response.ok, () => false);
    for (let waited = 0; !(await live()); waited += 200) {
      assert.ok(waited < 100_000, `the server did not start:\n${log}`);
      await sleep(200);
    }
    assert.ok((await readdir(dataDir)).includes('LOCK'));
    npm.kill('SIGTERM');
    await exited;
    assert.equal(await live(), false, 'the server stopped with npm');
    const release = await lockDataDir(dataDir);
    await release();
    assert.doesNotMatch(log, /"level":(40|50)[^\n]*ContentTypeParser/, 'no parser warning at start');
  });
});
