/** A vector the store will not hold: a wrong size, a non-finite number, or no direction. Refused before the log. */
export class InvalidVectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidVectorError';
  }
}

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
