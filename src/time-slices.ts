import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Work done between two yields to the event loop: long enough to be efficient, short enough that requests keep flowing. */
export const SLICE_MS = 8;

/**
 * Runs `step` on each item, yielding to the event loop whenever a slice of SLICE_MS has been
 * spent, so that CPU-bound work on thousands of items never stalls the server.
 */
export async function forEachInSlices<T>(items: readonly T[], step: (item: T, index: number) => void): Promise<void> {
  let sliceStart = performance.now();
  for (let index = 0; index < items.length; index++) {
    step(items[index] as T, index);
    if (performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
}

/** forEachInSlices, collecting what `map` returns. */
export async function mapInSlices<T, R>(items: readonly T[], map: (item: T) => R): Promise<R[]> {
  const results: R[] = [];
  await forEachInSlices(items, (item) => results.push(map(item)));
  return results;
}
