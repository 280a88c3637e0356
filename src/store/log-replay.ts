import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Mutation } from './mutation-codec.js';
import { listSnapshots, snapshotName } from './snapshot.js';
import { flatVectorsProblem } from './semantics/vector-check.js';
import { listSegments, readSegment, segmentName } from './write-ahead-log.js';

/** What a collection does with what it finds on disk when it opens. */
export interface ReplayTarget {
  loadSnapshot(snapshotDir: string): Promise<void>;
  /** Why a logged record cannot be applied as a whole, or undefined. */
  recordProblem(record: Mutation[]): string | undefined;
  apply(mutation: Mutation): Promise<void>;
  /** A record that cannot be read or applied is skipped whole, so the collection still opens. */
  skip(reason: string): void;
}

export interface Replayed {
  /** The newest snapshot loaded: the last log segment it covers. */
  snapshot: number | undefined;
  /** The segment the log goes on appending to. */
  appendSegment: number;
  mutations: number;
}

/**
 * Loads the newest snapshot, removes the log segments it covers, and replays the segments written
 * after it, record by record: a record is applied whole or skipped whole.
 */
export async function replayLog(dir: string, logger: Logger, collection: string, target: ReplayTarget): Promise<Replayed> {
  const latest = (await listSnapshots(dir)).at(-1);
  if (latest !== undefined) await target.loadSnapshot(join(dir, snapshotName(latest)));
  const covered = latest ?? 0;
  const segments = await listSegments(dir);
  await Promise.all(segments.filter((segment) => segment <= covered).map((segment) => rm(join(dir, segmentName(segment)), { force: true })));
  const toReplay = segments.filter((segment) => segment > covered);
  let mutations = 0;
  for (const segment of toReplay) {
    const { records, droppedBytes, skipped } = await readSegment(dir, segment, segment === toReplay.at(-1));
    if (droppedBytes > 0) logger.warn({ collection, segment, droppedBytes }, 'dropped a torn, unacknowledged write at the end of the log');
    for (const reason of skipped) target.skip(reason);
    for (const record of records) {
      const problem = target.recordProblem(record);
      if (problem) {
        target.skip(`segment ${segment}: ${problem}`);
        continue;
      }
      for (const mutation of record) await target.apply(mutation);
      mutations += record.length;
    }
  }
  return { snapshot: latest, appendSegment: toReplay.at(-1) ?? covered + 1, mutations };
}

/** Why a logged record's vectors cannot be held by a store of `dimensions` (undefined: not yet fixed), or undefined. */
export function recordProblem(record: Mutation[], dimensions: number | undefined): string | undefined {
  for (const mutation of record) {
    if (mutation.op !== 'put' || mutation.labels.length === 0) continue;
    const size = dimensions ?? mutation.vectors.length / mutation.labels.length;
    if (mutation.vectors.length !== size * mutation.labels.length) {
      return `document "${mutation.document.id}" has ${mutation.vectors.length / mutation.labels.length}-dimensional vectors, the store holds ${size}`;
    }
    const problem = flatVectorsProblem(mutation.vectors, size);
    if (problem) return `document "${mutation.document.id}": ${problem}`;
  }
  return undefined;
}
