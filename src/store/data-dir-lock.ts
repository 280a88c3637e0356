import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`DATA_DIR ${dir} is in use by another running process (pid ${pid}); two writers would corrupt it`);
    this.name = 'DataDirLockedError';
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes DATA_DIR for this process alone. A lock left by a process that is gone (killed, or this
 * same pid in a restarted container) is taken over; one held by a live process is refused.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'LOCK');
  // The pid is written first and the lock appears with it (link fails if LOCK exists): a process
  // that finds LOCK always reads a whole pid, never an empty file it would take for a stale one.
  const claim = join(dir, `LOCK.${process.pid}`);
  await writeFile(claim, String(process.pid));
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(claim, path);
        return () => rm(path, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
        if (Number.isInteger(holder) && holder !== process.pid && isRunning(holder)) throw new DataDirLockedError(dir, holder);
        await rm(path, { force: true });
      }
    }
  } finally {
    await rm(claim, { force: true });
  }
  throw new Error(`could not lock DATA_DIR ${dir}`);
}
