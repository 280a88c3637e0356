import { open, readdir, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { diskFaults, fsyncDirectory } from './durable-fs.js';
import { decodeMutations, encodeMutations, type Mutation } from './mutation-codec.js';

const SEGMENT = /^wal-(\d{8})\.log$/;

export const segmentName = (segment: number) => `wal-${String(segment).padStart(8, '0')}.log`;

/** Segment numbers present in a collection directory, oldest first. */
export async function listSegments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .map((name) => SEGMENT.exec(name)?.[1])
    .filter((number): number is string => number !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export interface ReplayedSegment {
  /** Each whole record's mutations, in log order. */
  records: Mutation[][];
  /** Bytes of a torn last frame that were cut off (0 when the segment ended cleanly). */
  droppedBytes: number;
  /** What could not be read and was skipped: frames whose content is unreadable, or a corrupt stretch of an older segment. */
  skipped: string[];
}

/**
 * Reads a segment. A torn tail (a frame cut short or failing its checksum) is legitimate in the
 * newest segment, where a crash interrupted a write that was never acknowledged: it is cut off so
 * later appends start clean. In an older segment it means corruption: what comes before it is
 * kept, the rest is reported as skipped, and the store still opens.
 */
export async function readSegment(dir: string, segment: number, isNewest: boolean): Promise<ReplayedSegment> {
  const path = join(dir, segmentName(segment));
  const buffer = await readFile(path);
  const decoded = decodeMutations(buffer);
  const skipped = decoded.unreadable.map(({ offset, reason }) => `${path} at byte ${offset}: ${reason}`);
  if (!decoded.torn) return { records: decoded.records, droppedBytes: 0, skipped };
  if (!isNewest) {
    skipped.push(`${path} is corrupt from byte ${decoded.validBytes} to its end (${buffer.length - decoded.validBytes} bytes) and is not the newest segment`);
    return { records: decoded.records, droppedBytes: 0, skipped };
  }
  await truncate(path, decoded.validBytes);
  return { records: decoded.records, droppedBytes: buffer.length - decoded.validBytes, skipped };
}

/** The append side of one collection's log: a write returns only once the bytes are on disk. */
export class WriteAheadLog {
  /** A failed append whose bytes could not be cut off yet: the next append cuts them first, or fails. */
  private unclean = false;

  private constructor(
    private readonly dir: string,
    private handle: FileHandle,
    private size: number,
    private segment: number,
  ) {}

  static async open(dir: string, segment: number): Promise<WriteAheadLog> {
    const handle = await open(join(dir, segmentName(segment)), 'a');
    const { size } = await handle.stat();
    await fsyncDirectory(dir);
    return new WriteAheadLog(dir, handle, size, segment);
  }

  get currentSegment(): number {
    return this.segment;
  }

  get bytes(): number {
    return this.size;
  }

  private get path(): string {
    return join(this.dir, segmentName(this.segment));
  }

  /**
   * Appends the mutations as one record and fsyncs. If the write or the fsync fails (disk full, an
   * I/O error), what was written is cut off again so that a write that was refused can never
   * reappear at replay, and the error is rethrown: nothing is acknowledged. When even the cut
   * fails, the log refuses further appends until a later one manages the cut.
   */
  async append(mutations: Mutation[]): Promise<void> {
    const bytes = encodeMutations(mutations);
    if (this.unclean) {
      await this.cutBack();
      this.unclean = false;
    }
    try {
      let written = 0;
      while (written < bytes.length) {
        diskFaults.check('write', this.path);
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      diskFaults.check('sync', this.path);
      await this.handle.datasync();
      this.size += bytes.length;
    } catch (error) {
      await this.cutBack().catch(() => {
        this.unclean = true;
      });
      throw error;
    }
  }

  private async cutBack(): Promise<void> {
    diskFaults.check('truncate', this.path);
    await this.handle.truncate(this.size);
    await this.handle.datasync();
  }

  /** Starts the next segment; what the old one holds is then covered by the snapshot being taken. */
  async rotate(): Promise<number> {
    await this.handle.close();
    this.segment += 1;
    this.handle = await open(join(this.dir, segmentName(this.segment)), 'a');
    this.size = 0;
    await fsyncDirectory(this.dir);
    return this.segment;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
