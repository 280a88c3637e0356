import { crc32 } from 'node:zlib';
import type { Metadata } from './metadata-filter.js';
import type { StoredDocument } from './store-contract.js';

/** One durable change to a collection; the write-ahead log holds these and replay re-applies them. */
export type Mutation =
  | { op: 'put'; document: StoredDocument; labels: number[]; vectors: Float32Array }
  | { op: 'metadata'; id: string; metadata: Metadata; updatedAt: string }
  | { op: 'delete'; ids: string[] };

/*
 * Frame layout, little-endian:  u32 payloadLength | u32 crc32(payload) | payload
 * payload:                      u32 jsonLength | JSON (utf-8) | float32 vectors (puts only)
 * One frame is one record: the mutations of one commit, applied all or none. A record of one
 * mutation has that mutation as its JSON (the original layout); a record of several has
 * `{op: "group", members, floats}`, the members' vectors one after another, `floats[i]` of them
 * for member i. A frame whose length runs past the end of the file or whose checksum fails is a
 * torn write: with it goes the whole record, never part of one.
 */
const FRAME_HEADER = 8;

type MutationJson = Exclude<Mutation, { op: 'put' }> | Omit<Extract<Mutation, { op: 'put' }>, 'vectors'>;

interface GroupJson {
  op: 'group';
  members: MutationJson[];
  floats: number[];
}

const jsonOf = (mutation: Mutation): MutationJson =>
  mutation.op === 'put' ? { op: mutation.op, document: mutation.document, labels: mutation.labels } : mutation;

/**
 * One record holding all of `mutations`, written into a single frame buffer: the JSON and each
 * put's float32 bytes go straight into it, with no intermediate buffers to concatenate.
 */
export function encodeMutations(mutations: Mutation[]): Buffer {
  const vectors = mutations.map((mutation) => (mutation.op === 'put' ? mutation.vectors : undefined));
  const json: MutationJson | GroupJson =
    mutations.length === 1
      ? jsonOf(mutations[0] as Mutation)
      : { op: 'group', members: mutations.map(jsonOf), floats: vectors.map((vector) => vector?.length ?? 0) };
  const text = JSON.stringify(json);
  const jsonLength = Buffer.byteLength(text, 'utf8');
  const vectorLength = vectors.reduce((sum, vector) => sum + (vector?.byteLength ?? 0), 0);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + 4 + jsonLength + vectorLength);
  frame.writeUInt32LE(4 + jsonLength + vectorLength, 0);
  frame.writeUInt32LE(jsonLength, FRAME_HEADER);
  frame.write(text, FRAME_HEADER + 4, 'utf8');
  let offset = FRAME_HEADER + 4 + jsonLength;
  for (const vector of vectors) {
    if (!vector) continue;
    frame.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), offset);
    offset += vector.byteLength;
  }
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER)), 4);
  return frame;
}

export interface DecodedLog {
  /** Each whole record's mutations, in log order. */
  records: Mutation[][];
  /** Whole frames (checksum right) whose content could not be read; skipped, each with why. */
  unreadable: Array<{ offset: number; reason: string }>;
  /** Bytes up to the end of the last whole frame; anything after is torn. */
  validBytes: number;
  torn: boolean;
}

function floatsAt(bytes: Buffer): Float32Array {
  if (bytes.length % 4 !== 0) throw new Error(`${bytes.length} vector bytes are not whole float32 numbers`);
  const vectors = new Float32Array(bytes.length / 4);
  Buffer.from(vectors.buffer).set(bytes);
  return vectors;
}

function decodePayload(payload: Buffer): Mutation[] {
  const jsonLength = payload.readUInt32LE(0);
  const json = JSON.parse(payload.toString('utf8', 4, 4 + jsonLength)) as MutationJson | GroupJson;
  const vectorBytes = payload.subarray(4 + jsonLength);
  if (json.op !== 'group') return [json.op === 'put' ? { ...json, vectors: floatsAt(vectorBytes) } : json];
  let offset = 0;
  return json.members.map((member, position) => {
    const bytes = (json.floats[position] ?? 0) * 4;
    const vectors = floatsAt(vectorBytes.subarray(offset, offset + bytes));
    offset += bytes;
    return member.op === 'put' ? { ...member, vectors } : member;
  });
}

export function decodeMutations(buffer: Buffer): DecodedLog {
  const records: Mutation[][] = [];
  const unreadable: DecodedLog['unreadable'] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (offset + FRAME_HEADER > buffer.length) break;
    const length = buffer.readUInt32LE(offset);
    const checksum = buffer.readUInt32LE(offset + 4);
    const end = offset + FRAME_HEADER + length;
    if (length < 4 || end > buffer.length) break;
    const payload = buffer.subarray(offset + FRAME_HEADER, end);
    if (crc32(payload) !== checksum) break;
    try {
      records.push(decodePayload(payload));
    } catch (error) {
      unreadable.push({ offset, reason: (error as Error).message });
    }
    offset = end;
  }
  return { records, unreadable, validBytes: offset, torn: offset < buffer.length };
}
