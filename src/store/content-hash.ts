import { hash } from 'node:crypto';

/*
 * One-shot hashes (crypto.hash): no Hash object per call, which for the short texts of an ingest
 * cost more than the hashing itself. The bytes hashed are those the stored hashes were made of.
 */

/** Identifies a document's content and how it was cut into chunks: equal hashes, equal chunks. */
export const contentHash = (text: string, chunking: string) => hash('sha256', `${chunking}\n${text}`, 'base64');

/** Identifies a chunk's text, so a chunk of equal text can lend its vector instead of being embedded again. */
export const chunkHash = (text: string) => hash('sha1', text, 'base64');
