import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** Little-endian float32s from base64; undefined when the bytes are not a whole number of them. */
export function decodeBase64(embedding: string): Float32Array | undefined {
  const bytes = Buffer.from(embedding, 'base64');
  if (bytes.length % 4 !== 0) return undefined;
  if (!LITTLE_ENDIAN) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return Float32Array.from({ length: bytes.length / 4 }, (_, index) => view.getFloat32(index * 4, true));
  }
  // Aligned bytes are viewed in place; a pooled, unaligned slice is copied once.
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/**
 * Why a value is not a usable embedding of `size` numbers, or undefined when it is one: a list
 * (or float32 array) of finite numbers, not empty, of the expected size, not all zero.
 */
export function vectorProblem(vector: unknown, size: number | undefined): string | undefined {
  if (!Array.isArray(vector) && !(vector instanceof Float32Array)) return 'is not a list of numbers';
  if (vector.length === 0) return 'is empty';
  if (size !== undefined && vector.length !== size) return `has ${vector.length} dimensions, not ${size}`;
  let squares = 0;
  for (let position = 0; position < vector.length; position++) {
    const value: unknown = vector[position];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const shown = typeof value === 'number' || value === undefined ? String(value) : JSON.stringify(value);
      return `has ${shown} at position ${position}, not a finite number`;
    }
    squares += value * value;
  }
  return squares > 0 && Number.isFinite(squares) ? undefined : 'has no direction (its norm is 0 or overflows)';
}
