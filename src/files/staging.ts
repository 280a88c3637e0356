import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkFileName, detectFileType, type FileType, SNIFF_BYTES } from './file-types.js';

/** An upload written to disk, hashed and typed, not yet read for text. */
export interface StagedFile {
  /** The name the client sent. */
  name: string;
  /** The id its sections are stored under (`<id>#page-3`, `<id>#section-2`). */
  id: string;
  type: FileType;
  /** Where the bytes are, relative to the staging directory. */
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Streams one upload to `dir/<position>` (never holding it whole in memory), hashing it and keeping
 * its first bytes, then names its type from content and name together. The caller removes `dir`.
 */
export async function stageFile(dir: string, position: number, name: string, id: string, content: Readable): Promise<StagedFile> {
  checkFileName(name);
  const path = String(position);
  const hash = createHash('sha256');
  let head = Buffer.alloc(0);
  let bytes = 0;
  await pipeline(
    content,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        bytes += chunk.length;
        if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
        yield chunk;
      }
    },
    createWriteStream(join(dir, path)),
  );
  return { name, id, type: detectFileType(name, head), path, bytes, sha256: hash.digest('hex') };
}
