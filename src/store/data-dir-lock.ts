import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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

const readText = (path: string) => readFile(path, 'utf8').catch(() => undefined);
const pidIn = (text: string | undefined) => Number.parseInt(text ?? '', 10);
const isLive = (pid: number) => Number.isInteger(pid) && pid !== process.pid && isRunning(pid);
const exists = (error: unknown) => (error as NodeJS.ErrnoException).code === 'EEXIST';

/** How many times the lock is looked at before giving up on a DATA_DIR whose lock keeps changing hands. */
const ATTEMPTS = 50;

/**
 * Removes the stale lock whose content was `stale`, unless another process got there first. Only
 * the process that creates LOCK.takeover may remove LOCK, and it looks at LOCK again first: two
 * processes that both saw the same dead holder would otherwise each remove what the other had
 * just taken. A LOCK.takeover whose creator is gone (it died in these few lines) is cleared.
 */
async function removeStaleLock(dir: string, lock: string, claim: string, stale: string | undefined): Promise<void> {
  const marker = join(dir, 'LOCK.takeover');
  try {
    await link(claim, marker);
  } catch (error) {
    if (!exists(error)) throw error;
    if (isLive(pidIn(await readText(marker)))) await sleep(10);
    else await rm(marker, { force: true });
    return;
  }
  try {
    if ((await readText(lock)) === stale) await rm(lock, { force: true });
  } finally {
    await rm(marker, { force: true });
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
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await link(claim, path);
        return () => rm(path, { force: true });
      } catch (error) {
        if (!exists(error)) throw error;
      }
      const holderText = await readText(path);
      const holder = pidIn(holderText);
      if (isLive(holder)) throw new DataDirLockedError(dir, holder);
      await removeStaleLock(dir, path, claim, holderText);
    }
  } finally {
    await rm(claim, { force: true });
  }
  throw new Error(`could not lock DATA_DIR ${dir}: its lock kept changing hands`);
}
