import { createHash } from 'node:crypto';

/** Identifies a document's content and how it was cut into chunks: equal hashes, equal chunks. */
export const contentHash = (text: string, chunking: string) =>
  createHash('sha256').update(chunking).update('\n').update(text).digest('base64');

/** Identifies a chunk's text, so a chunk of equal text can lend its vector instead of being embedded again. */
export const chunkHash = (text: string) => createHash('sha1').update(text).digest('base64');
