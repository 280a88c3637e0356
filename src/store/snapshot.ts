import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { fsyncDirectory, fsyncFile } from './durable-fs.js';
import type { StoredDocument } from './store-contract.js';
import { listSegments, segmentName } from './write-ahead-log.js';

const SNAPSHOT = /^snapshot-(\d{8})$/;
const DOCUMENTS_FILE = 'documents.jsonl';

export const snapshotName = (segment: number) => `snapshot-${String(segment).padStart(8, '0')}`;

export interface SnapshotHeader {
  format: 1;
  /** The last log segment whose mutations this snapshot contains. */
  segment: number;
  nextLabel: number;
  dimensions: number | null;
}

export interface SnapshotEntry {
  document: StoredDocument;
  labels: number[];
}

/** Complete snapshots in a directory, newest last; unfinished ones (crash mid-snapshot) are removed. */
export async function listSnapshots(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  await Promise.all(
    names.filter((name) => name.startsWith('snapshot-') && name.endsWith('.tmp')).map((name) => rm(join(dir, name), { recursive: true, force: true })),
  );
  return names
    .map((name) => SNAPSHOT.exec(name)?.[1])
    .filter((number): number is string => number !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** A directory to write the next snapshot into; it only counts once `publishSnapshot` renames it. */
export async function prepareSnapshotDir(dir: string, segment: number): Promise<string> {
  const temporary = join(dir, `${snapshotName(segment)}.tmp`);
  await rm(temporary, { recursive: true, force: true });
  await mkdir(temporary, { recursive: true });
  return temporary;
}

/** Writes the documents, makes every file durable (`vectorFiles` were written already), then renames the directory into place. */
export async function publishSnapshot(
  dir: string,
  temporary: string,
  header: SnapshotHeader,
  entries: Iterable<SnapshotEntry>,
  vectorFiles: string[],
): Promise<void> {
  const documentsPath = join(temporary, DOCUMENTS_FILE);
  const out = createWriteStream(documentsPath);
  const write = async (line: string) => {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  };
  await write(JSON.stringify(header));
  for (const entry of entries) await write(JSON.stringify(entry));
  out.end();
  await finished(out);
  await fsyncFile(documentsPath);
  for (const file of vectorFiles) await fsyncFile(join(temporary, file));
  await fsyncDirectory(temporary);
  await rename(temporary, join(dir, snapshotName(header.segment)));
  await fsyncDirectory(dir);
}

/** Once a snapshot of `segment` is published: removes older snapshots and the log segments it covers. */
export async function removeCovered(dir: string, segment: number): Promise<void> {
  for (const older of (await listSnapshots(dir)).filter((snapshot) => snapshot < segment)) {
    await rm(join(dir, snapshotName(older)), { recursive: true, force: true });
  }
  for (const covered of (await listSegments(dir)).filter((number) => number <= segment)) {
    await rm(join(dir, segmentName(covered)), { force: true });
  }
}

export async function readSnapshotEntries(
  snapshotDir: string,
  onEntry: (entry: SnapshotEntry) => void,
): Promise<SnapshotHeader> {
  const lines = createInterface({ input: createReadStream(join(snapshotDir, DOCUMENTS_FILE)), crlfDelay: Infinity });
  let header: SnapshotHeader | undefined;
  for await (const line of lines) {
    if (!line) continue;
    if (!header) {
      header = JSON.parse(line) as SnapshotHeader;
      if (header.format !== 1) throw new Error(`snapshot ${snapshotDir} has unknown format ${String(header.format)}`);
      continue;
    }
    onEntry(JSON.parse(line) as SnapshotEntry);
  }
  if (!header) throw new Error(`snapshot ${snapshotDir} has no header`);
  return header;
}
