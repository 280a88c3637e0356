import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataDirLockedError, lockDataDir } from '../../src/store/data-dir-lock.js';
import { temporaryDir } from '../support/test-app.js';

const LOCK_MODULE = new URL('../../src/store/data-dir-lock.ts', import.meta.url).pathname;

/** A process that tries the lock on `dir` once, says "locked <pid>" or "refused <pid>: why", and holds what it got until its stdin closes. */
const holderScript = (dir: string) => `
  const { lockDataDir } = await import(${JSON.stringify(LOCK_MODULE)});
  let release;
  try { release = await lockDataDir(${JSON.stringify(dir)}); process.stdout.write('locked ' + process.pid + '\\n'); }
  catch (error) { process.stdout.write('refused ' + process.pid + ': ' + error.message + '\\n'); }
  process.stdin.resume();
  process.stdin.on('end', async () => { await release?.(); process.exit(0); });`;

interface Holder {
  child: ChildProcess;
  /** The first line it printed. */
  said: Promise<string>;
}

/** Starts a holder, with `prefix` (such as unshare) before node. */
function startHolder(dir: string, prefix: string[] = []): Holder {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', holderScript(dir)];
  const [command, ...args] = [...prefix, ...node] as [string, ...string[]];
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const said = new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code} before saying anything: ${out}`)));
  });
  return { child, said };
}

async function stop(holder: Holder, signal?: NodeJS.Signals): Promise<void> {
  if (holder.child.exitCode !== null || holder.child.signalCode !== null) return;
  const exited = once(holder.child, 'exit');
  if (signal) holder.child.kill(signal);
  else holder.child.stdin?.end();
  await exited;
}

/** Why a child cannot be given pid 1 of its own pid namespace here, or undefined when it can. */
function noPidNamespace(): string | undefined {
  try {
    const pid = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', 'echo $$'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return pid === '1' ? undefined : `unshare gave pid ${pid}, not 1`;
  } catch (error) {
    return `unshare --pid is not permitted here (${(error as Error).message.split('\n')[0]})`;
  }
}

describe('the DATA_DIR lock', () => {
  let dir: string;
  before(async () => {
    dir = await temporaryDir('rag-lock-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('names its holder in LOCK while held, stays after release, and is free once released', async () => {
    const release = await lockDataDir(dir);
    assert.match(await readFile(join(dir, 'LOCK'), 'utf8'), new RegExp(`^pid ${process.pid} on `));
    await release();
    assert.deepEqual(await readdir(dir), ['LOCK'], 'LOCK stays, so no one ever locks a file the others cannot see');
    const again = await lockDataDir(dir);
    await again();
  });

  it('in one process, a second opening takes the lock over and the first one\'s release leaves it held', async () => {
    const first = await lockDataDir(dir);
    const second = await lockDataDir(dir);
    await first();
    const other = startHolder(dir);
    try {
      assert.match(await other.said, new RegExp(`^refused \\d+: .*in use by another running process \\(pid ${process.pid} on `));
    } finally {
      await stop(other);
    }
    await second();
    const taker = startHolder(dir);
    try {
      assert.match(await taker.said, /^locked /);
    } finally {
      await stop(taker);
    }
  });

  it('takes a LOCK file that no process holds, whatever it says (a dead pid, this pid, garbage)', async () => {
    for (const content of ['pid 999999 on elsewhere', `pid ${process.pid}`, 'garbage', '']) {
      await writeFile(join(dir, 'LOCK'), content);
      const release = await lockDataDir(dir);
      assert.match(await readFile(join(dir, 'LOCK'), 'utf8'), new RegExp(`^pid ${process.pid} on `), `over ${JSON.stringify(content)}`);
      await release();
    }
  });

  it('between two processes of one pid namespace: refused while the other holds it, taken at once after it is killed -9', async () => {
    const holder = startHolder(dir);
    try {
      const said = await holder.said;
      assert.equal(said, `locked ${holder.child.pid}`);
      await assert.rejects(lockDataDir(dir), (error: unknown) => {
        assert.ok(error instanceof DataDirLockedError);
        assert.match(error.message, new RegExp(`in use by another running process \\(pid ${holder.child.pid} on `));
        return true;
      });
      await stop(holder, 'SIGKILL');
      const release = await lockDataDir(dir);
      await release();
    } finally {
      await stop(holder, 'SIGKILL');
    }
  });

  it('between two processes that both are pid 1 (two containers on one volume)', async (t) => {
    const why = noPidNamespace();
    if (why) {
      t.skip(why);
      return;
    }
    const unshare = ['unshare', '--pid', '--fork', '--mount-proc'];
    const first = startHolder(dir, unshare);
    let second: Holder | undefined;
    try {
      assert.equal(await first.said, 'locked 1');
      second = startHolder(dir, unshare);
      assert.match(await second.said, /^refused 1: DATA_DIR .* is in use by another running process \(pid 1 on /);
      await stop(second);
      await stop(first, 'SIGKILL');
      second = startHolder(dir, unshare);
      assert.equal(await second.said, 'locked 1', 'free once the first is gone');
    } finally {
      await stop(first, 'SIGKILL');
      if (second) await stop(second);
    }
  });
});

describe('the DATA_DIR lock under a race', () => {
  it('goes to exactly one of several processes starting at once', { timeout: 60_000 }, async () => {
    const dir = await temporaryDir('rag-lock-race-');
    const racers = Array.from({ length: 4 }, () => startHolder(dir));
    try {
      const said = await Promise.all(racers.map((racer) => racer.said));
      assert.equal(said.filter((line) => line.startsWith('locked')).length, 1, said.join('\n'));
      assert.equal(said.filter((line) => line.startsWith('refused')).length, 3);
      assert.deepEqual(await readdir(dir), ['LOCK'], 'nothing but LOCK is left behind');
    } finally {
      await Promise.all(racers.map((racer) => stop(racer)));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
