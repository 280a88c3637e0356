import { badRequest, ProblemError } from '../errors.js';
import type { ChunkingOptions } from '../rag/chunking.js';
import type { Metadata } from '../store/metadata-filter.js';
import { unstorable } from '../store/storable-text.js';

/** Deepest nesting of a document's metadata (the object itself is level 1). */
export const METADATA_MAX_DEPTH = 32;
/** Largest metadata of one document, as JSON. */
export const METADATA_MAX_BYTES = 64 * 1024;

/** Refuses a string the store cannot hold (see unstorable), naming where it is. */
export function checkStorable(text: string, where: string): void {
  const reason = unstorable(text);
  if (reason) throw badRequest(`${where} ${reason}; the store keeps Unicode text without NUL characters`);
}

/**
 * Refuses metadata nested deeper or larger than the limits, naming them, or holding a key or string
 * the store cannot keep. Depth is measured without recursion first: metadata thousands of levels
 * deep would overflow the stack of anything that walks it recursively (JSON.stringify included), so
 * nothing else touches it before this check.
 */
export function checkMetadata(metadata: Metadata, where: string): void {
  const pending: Array<[value: unknown, depth: number, path: string]> = [[metadata, 1, where]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, depth, path] = next;
    if (typeof value === 'string') checkStorable(value, path);
    if (typeof value !== 'object' || value === null) continue;
    if (depth > METADATA_MAX_DEPTH) throw badRequest(`${where} nests deeper than ${METADATA_MAX_DEPTH} levels, the limit`);
    for (const [key, child] of Object.entries(value)) {
      checkStorable(key, `a key in ${path}`);
      pending.push([child, depth + 1, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`]);
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > METADATA_MAX_BYTES) throw badRequest(`${where} is ${bytes} bytes as JSON; the limit is ${METADATA_MAX_BYTES}`);
}

/**
 * Overlap at most half the size: beyond it, each chunk advances by less than half its length and a
 * text turns into many times its own size in chunks to embed (size 50, overlap 49: 3,355 chunks from 20 KB).
 */
export function checkOverlap({ size, overlap }: ChunkingOptions): void {
  if (overlap >= size) throw badRequest(`chunking.overlap (${overlap}) must be smaller than chunking.size (${size})`);
  if (overlap * 2 > size) throw badRequest(`chunking.overlap (${overlap}) must be at most half of chunking.size (${size})`);
}

export const tooManyChunks = (chunks: number | string, max: number) =>
  new ProblemError({
    status: 413,
    slug: 'too-many-chunks',
    title: 'Payload Too Large',
    detail: `this request would create ${chunks} chunks; one request may create at most ${max} (INGEST_MAX_CHUNKS): send fewer documents per request, or use a larger chunking.size`,
  });
