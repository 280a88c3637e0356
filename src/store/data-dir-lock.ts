import { closeSync, ftruncateSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tryLock } from 'fs-native-extensions';

export class DataDirLockedError extends Error {
  constructor(dir: string, holder: string) {
    super(`DATA_DIR ${dir} is in use by another running process (${holder || 'it did not say which'}); two writers would corrupt it`);
    this.name = 'DataDirLockedError';
  }
}

/**
 * Takes DATA_DIR for this process alone, with an exclusive lock on the open file DATA_DIR/LOCK
 * (on Linux an open file description lock, `fcntl(F_OFD_SETLK)`; BSD `flock` on macOS,
 * `LockFileEx` on Windows). The kernel holds it for the open file, not for a pid: it goes when the
 * file is closed or the process ends in any way (kill -9 included), so a crashed holder never
 * leaves a stale lock, and two processes that both have pid 1 (two containers on one volume)
 * cannot both take it. It holds across containers that share the volume on one host; on a network
 * file system it is only as good as that file system's lock support.
 *
 * LOCK is never removed: a process that opened it just before it was unlinked would lock a file
 * that no one else can find, and both would write. Its text (pid and host of the holder) is only
 * there to name the holder in the refusal; nothing trusts it.
 *
 * Within one process, opening DATA_DIR again takes the lock over from the earlier opening, whose
 * release then does nothing: the store's tests reopen a DATA_DIR in-process, abandoning the old
 * instance, as a restarted process would after a crash.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const path = join(realpathSync(dir), 'LOCK');
  const fd = heldHere.get(path)?.fd ?? takeLock(dir, path);
  const holder = Symbol(path);
  heldHere.set(path, { fd, holder });
  ftruncateSync(fd, 0);
  writeSync(fd, `pid ${process.pid} on ${hostname()}, since ${new Date().toISOString()}\n`, 0);
  return async () => {
    if (heldHere.get(path)?.holder !== holder) return;
    heldHere.delete(path);
    ftruncateSync(fd, 0);
    closeSync(fd);
  };
}

/** The locks this process holds, by LOCK path, and which opening holds each. */
const heldHere = new Map<string, { fd: number; holder: symbol }>();

/** The descriptor of LOCK, locked; refused when another open file holds it. */
function takeLock(dir: string, path: string): number {
  // A plain descriptor, not a FileHandle: a FileHandle that is garbage collected closes itself, and the lock with it.
  const fd = openSync(path, 'a+');
  let locked: boolean;
  try {
    locked = tryLock(fd);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (!locked) {
    closeSync(fd);
    throw new DataDirLockedError(dir, readFileSync(path, 'utf8').trim());
  }
  return fd;
}
