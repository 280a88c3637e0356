import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * One embedding as a NIM sends it: a base64 string of little-endian float32s (`encoding_format:
 * "base64"`), decoded with no intermediate copy where the bytes are aligned, or a JSON array of
 * numbers from a NIM that sends floats. Undefined when it is neither.
 */
export function decodeEmbedding(embedding: unknown): Float32Array | undefined {
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    if (bytes.length % 4 !== 0) return undefined;
    if (!LITTLE_ENDIAN) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      return Float32Array.from({ length: bytes.length / 4 }, (_, index) => view.getFloat32(index * 4, true));
    }
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }
  if (Array.isArray(embedding) && embedding.every((value) => typeof value === 'number')) return Float32Array.from(embedding);
  return undefined;
}

/** The inverse of decodeEmbedding for base64: little-endian float32s. */
export function encodeEmbedding(vector: ArrayLike<number>): string {
  const floats = Float32Array.from(vector);
  const bytes = Buffer.alloc(floats.length * 4);
  floats.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString('base64');
}
