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

describe('the DATA_DIR lock under a race', () => {
  it('goes to exactly one of several processes racing over a dead holder\'s lock', { timeout: 60_000 }, async () => {
    const dir = await temporaryDir('rag-lock-race-');
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(gone, 'exit');
    await writeFile(join(dir, 'LOCK'), String(gone.pid));
    // Each racer says it is ready, waits for GO, tries once, and holds what it got until STOP.
    const racer = `
      const { existsSync } = await import('node:fs');
      const { lockDataDir } = await import(${JSON.stringify(new URL('../../src/store/data-dir-lock.ts', import.meta.url).pathname)});
      const dir = ${JSON.stringify(dir)};
      process.stdout.write('ready\\n');
      while (!existsSync(dir + '/GO')) await new Promise((resolve) => setImmediate(resolve));
      let release;
      try { release = await lockDataDir(dir); process.stdout.write('locked\\n'); } catch { process.stdout.write('refused\\n'); }
      while (!existsSync(dir + '/STOP')) await new Promise((resolve) => setTimeout(resolve, 5));
      await release?.();`;
    const racers = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', racer], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
      return { child, output: () => out, exited: once(child, 'exit') };
    });
    try {
      const waitFor = async (done: () => boolean) => {
        while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
      };
      await waitFor(() => racers.every((racer) => racer.output().includes('ready')));
      await writeFile(join(dir, 'GO'), '');
      await waitFor(() => racers.every((racer) => /locked|refused/.test(racer.output())));
      const winners = racers.filter((racer) => racer.output().includes('locked')).length;
      await writeFile(join(dir, 'STOP'), '');
      await Promise.all(racers.map((racer) => racer.exited));
      assert.equal(winners, 1, 'one process holds the lock, the others are refused');
      assert.deepEqual((await readdir(dir)).sort(), ['GO', 'STOP'], 'no claim or takeover file is left behind');
    } finally {
      for (const { child } of racers) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
