/** The heat map's pieces that need no page: a colour scale and which document each query likes best. */

// Viridis at nine stops: perceptually even, readable in greyscale and by colour-blind readers.
const VIRIDIS: ReadonlyArray<readonly [number, number, number]> = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** The colour of `value` on a scale from `min` to `max`, as CSS rgb(). */
export function colourOf(value: number, min: number, max: number): string {
  const t = max > min ? Math.min(1, Math.max(0, (value - min) / (max - min))) : 0.5;
  const position = t * (VIRIDIS.length - 1);
  const low = Math.floor(position);
  const high = Math.min(VIRIDIS.length - 1, low + 1);
  const f = position - low;
  const [r, g, b] = [0, 1, 2].map((channel) => Math.round(VIRIDIS[low]![channel]! * (1 - f) + VIRIDIS[high]![channel]! * f));
  return `rgb(${r}, ${g}, ${b})`;
}

/** Light text on the dark end of the scale, dark text on the light end. */
export const textColourOn = (value: number, min: number, max: number): string =>
  (max > min ? (value - min) / (max - min) : 0.5) > 0.6 ? '#111' : '#fff';

export function range(matrix: readonly (readonly number[])[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const row of matrix) for (const value of row) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return { min, max };
}

/** For each query (row), the index of its most similar document. */
export const bestPerRow = (matrix: readonly (readonly number[])[]): number[] =>
  matrix.map((row) => row.reduce((best, value, index) => (value > row[best]! ? index : best), 0));
