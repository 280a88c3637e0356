import { open, readdir, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from './durable-fs.js';
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
  mutations: Mutation[];
  /** Bytes of a torn last frame that were cut off (0 when the segment ended cleanly). */
  droppedBytes: number;
}

/**
 * Reads a segment. A torn tail (a frame cut short or failing its checksum) is only legitimate in
 * the newest segment, where a crash interrupted a write that was never acknowledged: it is cut
 * off so later appends start clean. Anywhere else it means corruption, and reading refuses.
 */
export async function readSegment(dir: string, segment: number, isNewest: boolean): Promise<ReplayedSegment> {
  const path = join(dir, segmentName(segment));
  const buffer = await readFile(path);
  const decoded = decodeMutations(buffer);
  if (!decoded.torn) return { mutations: decoded.mutations, droppedBytes: 0 };
  if (!isNewest) {
    throw new Error(`write-ahead log ${path} is corrupt at byte ${decoded.validBytes} and is not the newest segment`);
  }
  await truncate(path, decoded.validBytes);
  return { mutations: decoded.mutations, droppedBytes: buffer.length - decoded.validBytes };
}

/** The append side of one collection's log: a write returns only once the bytes are on disk. */
export class WriteAheadLog {
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

  /**
   * Appends and fsyncs. If the write fails part-way (disk full), the partial frame is cut off so
   * the log stays readable, and the error is rethrown: nothing is acknowledged.
   */
  async append(mutations: Mutation[]): Promise<void> {
    const bytes = encodeMutations(mutations);
    try {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      await this.handle.datasync();
      this.size += bytes.length;
    } catch (error) {
      await this.handle.truncate(this.size).catch(() => undefined);
      throw error;
    }
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
