import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataDirLockedError, lockDataDir } from '../../src/store/data-dir-lock.js';
import { temporaryDir } from '../support/test-app.js';

describe('the DATA_DIR lock', () => {
  let dir: string;
  before(async () => {
    dir = await temporaryDir('rag-lock-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('holds this process\'s pid while held, leaves nothing else behind, and is gone once released', async () => {
    const release = await lockDataDir(dir);
    assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), String(process.pid));
    assert.deepEqual(await readdir(dir), ['LOCK']);
    await release();
    assert.deepEqual(await readdir(dir), []);
  });

  it('refuses a DATA_DIR held by another running process, naming it', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'LOCK'), String(holder.pid));
      await assert.rejects(lockDataDir(dir), (error: unknown) => {
        assert.ok(error instanceof DataDirLockedError);
        assert.match(error.message, new RegExp(`in use by another running process \\(pid ${holder.pid}\\)`));
        return true;
      });
      assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), String(holder.pid), 'the holder keeps its lock');
    } finally {
      holder.kill('SIGKILL');
      await rm(join(dir, 'LOCK'), { force: true });
    }
  });

  it('takes over a lock holding this very pid (a restarted container) or no pid at all', async () => {
    for (const content of [String(process.pid), 'garbage', '']) {
      await writeFile(join(dir, 'LOCK'), content);
      const release = await lockDataDir(dir);
      assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), String(process.pid), `over ${JSON.stringify(content)}`);
      await release();
    }
  });

  it('takes over a lock left by a process that is gone', async () => {
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(gone, 'exit');
    await writeFile(join(dir, 'LOCK'), String(gone.pid));
    const release = await lockDataDir(dir);
    assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), String(process.pid));
    await release();
  });
});
