import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachInSlices, inSlice, mapInSlices } from '../src/time-slices.js';

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('time slices', () => {
  it('keeps order, and lets a timer fire in the middle of long work', async () => {
    let timerFiredAt: number | undefined;
    let done = 0;
    const results = await mapInSlices(Array.from({ length: 50 }, (_, index) => index), (item) => {
      if (done === 0) {
        setTimeout(() => {
          timerFiredAt = done;
        }, 0);
      }
      busy(1);
      done += 1;
      return item * 2;
    });
    assert.deepEqual(results, Array.from({ length: 50 }, (_, index) => index * 2));
    assert.ok(timerFiredAt !== undefined && timerFiredAt > 0 && timerFiredAt < 50, `the timer fired after ${String(timerFiredAt)} of 50 items`);
  });

  it('fails only the job that throws; other work queued beside it finishes', async () => {
    const seen: number[] = [];
    const failing = forEachInSlices([1, 2, 3], (item) => {
      if (item === 2) throw new Error('item 2 is bad');
      seen.push(item);
    });
    const healthy = inSlice((budgetMs) => budgetMs);
    await assert.rejects(failing, /item 2 is bad/);
    assert.ok((await healthy) > 0, 'the healthy job ran with time to spend');
    assert.deepEqual(seen, [1]);
  });
});
