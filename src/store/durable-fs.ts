import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

export type DiskOperation = 'write' | 'sync' | 'truncate';

/**
 * The seam where tests make the disk fail: every write, fsync and truncate the store makes to
 * its log and its atomically replaced files asks `diskFaults.check` first, which throws the
 * error the operating system would (ENOSPC, EIO). In production it does nothing.
 */
export const diskFaults = {
  check: (_operation: DiskOperation, _path: string): void => undefined,
};

/** Makes a directory's entries (new, renamed or removed files) durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    diskFaults.check('sync', dir);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    diskFaults.check('sync', path);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces a file so that a crash leaves either the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  const handle = await open(temporary, 'w');
  try {
    diskFaults.check('write', temporary);
    await handle.writeFile(content);
    diskFaults.check('sync', temporary);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await fsyncDirectory(dirname(path));
}
