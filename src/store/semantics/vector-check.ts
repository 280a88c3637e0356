import type { ChunkVector } from '../store-contract.js';
import { InvalidVectorError } from './store-errors.js';

/**
 * Why `flat` (vectors of `dimensions` floats one after another) cannot be stored, or undefined.
 * Checked on float32 values, so a double too large for float32 is caught as the Infinity it becomes.
 */
export function flatVectorsProblem(flat: Float32Array, dimensions: number): string | undefined {
  if (dimensions <= 0 || flat.length % dimensions !== 0) return `${flat.length} numbers are not whole ${dimensions}-dimensional vectors`;
  for (let start = 0; start < flat.length; start += dimensions) {
    let squares = 0;
    for (let position = start; position < start + dimensions; position++) {
      const value = flat[position] as number;
      if (!Number.isFinite(value)) return `vector ${start / dimensions} has ${value} at position ${position - start}`;
      squares += value * value;
    }
    if (!(squares > 0) || !Number.isFinite(squares)) return `vector ${start / dimensions} has no direction (its norm is 0 or overflows)`;
  }
  return undefined;
}

/**
 * A document's chunk vectors as one float32 array, refused with an InvalidVectorError unless
 * each has `dimensions` numbers and is a usable direction. Both backends store float32 (pgvector's
 * `vector` is float4), so both refuse the same vectors.
 */
export function checkedVectors(id: string, vectors: ChunkVector[], dimensions: number): Float32Array {
  const flat = new Float32Array(vectors.length * dimensions);
  vectors.forEach((vector, position) => {
    if (vector.length !== dimensions) {
      throw new InvalidVectorError(`document "${id}" chunk ${position}: vector has ${vector.length} dimensions, the store holds ${dimensions}-dimensional vectors`);
    }
    flat.set(vector, position * dimensions);
  });
  const problem = flatVectorsProblem(flat, dimensions);
  if (problem) throw new InvalidVectorError(`document "${id}": ${problem.replace(/^vector (\d+)/, 'chunk $1')}`);
  return flat;
}

/** Refuses, with an InvalidVectorError, a query vector that is empty, of another size than the store's, not finite as float32, or without a direction. */
export function checkQueryVector(vector: number[], dimensions: number | undefined): void {
  if (vector.length === 0) throw new InvalidVectorError('the query vector is empty');
  if (dimensions !== undefined && vector.length !== dimensions) {
    throw new InvalidVectorError(`the query vector has ${vector.length} dimensions, the store holds ${dimensions}-dimensional vectors`);
  }
  const problem = flatVectorsProblem(Float32Array.from(vector), vector.length);
  if (problem) throw new InvalidVectorError(`the query ${problem.replace(/^vector 0 /, 'vector ')}`);
}
