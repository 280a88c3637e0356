import { crc32 } from 'node:zlib';
import type { Metadata } from './metadata-filter.js';

/** A document as the store keeps it: its full text once, and each chunk as a span of that text. */
export interface StoredDocument {
  id: string;
  text: string;
  metadata: Metadata;
  /** Hash of the text and the chunking that produced the spans: equal hash, equal chunks. */
  contentHash: string;
  spans: Array<[start: number, end: number]>;
  createdAt: string;
  updatedAt: string;
}

/** One durable change to a collection; the write-ahead log holds these and replay re-applies them. */
export type Mutation =
  | { op: 'put'; document: StoredDocument; labels: number[]; vectors: Float32Array }
  | { op: 'metadata'; id: string; metadata: Metadata; updatedAt: string }
  | { op: 'delete'; ids: string[] };

/*
 * Frame layout, little-endian:  u32 payloadLength | u32 crc32(payload) | payload
 * payload:                      u32 jsonLength | JSON (utf-8) | float32 vectors (put only)
 * A frame whose length runs past the end of the file or whose checksum fails is a torn write.
 */
const FRAME_HEADER = 8;

export function encodeMutations(mutations: Mutation[]): Buffer {
  const frames = mutations.map((mutation) => {
    const { vectors, json } =
      mutation.op === 'put'
        ? { vectors: mutation.vectors, json: { op: mutation.op, document: mutation.document, labels: mutation.labels } }
        : { vectors: undefined, json: mutation };
    const jsonBytes = Buffer.from(JSON.stringify(json), 'utf8');
    const vectorBytes = vectors ? Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength) : Buffer.alloc(0);
    const payload = Buffer.allocUnsafe(4 + jsonBytes.length + vectorBytes.length);
    payload.writeUInt32LE(jsonBytes.length, 0);
    jsonBytes.copy(payload, 4);
    vectorBytes.copy(payload, 4 + jsonBytes.length);
    const header = Buffer.allocUnsafe(FRAME_HEADER);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    return Buffer.concat([header, payload]);
  });
  return Buffer.concat(frames);
}

export interface DecodedLog {
  mutations: Mutation[];
  /** Bytes up to the end of the last whole frame; anything after is torn. */
  validBytes: number;
  torn: boolean;
}

function decodePayload(payload: Buffer): Mutation {
  const jsonLength = payload.readUInt32LE(0);
  const json = JSON.parse(payload.toString('utf8', 4, 4 + jsonLength)) as Mutation;
  if (json.op !== 'put') return json;
  const vectorBytes = payload.subarray(4 + jsonLength);
  const vectors = new Float32Array(vectorBytes.length / 4);
  Buffer.from(vectors.buffer).set(vectorBytes);
  return { ...json, vectors };
}

export function decodeMutations(buffer: Buffer): DecodedLog {
  const mutations: Mutation[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (offset + FRAME_HEADER > buffer.length) break;
    const length = buffer.readUInt32LE(offset);
    const checksum = buffer.readUInt32LE(offset + 4);
    const end = offset + FRAME_HEADER + length;
    if (length < 4 || end > buffer.length) break;
    const payload = buffer.subarray(offset + FRAME_HEADER, end);
    if (crc32(payload) !== checksum) break;
    mutations.push(decodePayload(payload));
    offset = end;
  }
  return { mutations, validBytes: offset, torn: offset < buffer.length };
}
