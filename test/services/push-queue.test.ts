import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PushQueue } from '../../src/services/push-queue.js';

describe('PushQueue', () => {
  it('hands the reader every item in order, those pushed before it read and those pushed while it waits', async () => {
    const queue = new PushQueue<number>();
    queue.push(1);
    queue.push(2);
    setImmediate(() => {
      queue.push(3);
      queue.end();
    });
    const read: number[] = [];
    for await (const batch of queue) read.push(...batch);
    assert.deepEqual(read, [1, 2, 3]);
  });

  it('throws the error it was ended with, after the items pushed before it', async () => {
    const queue = new PushQueue<string>();
    queue.push('token');
    queue.end(new Error('the model failed'));
    const read: string[] = [];
    await assert.rejects(async () => {
      for await (const batch of queue) read.push(...batch);
    }, /the model failed/);
    assert.deepEqual(read, ['token']);
  });

  it('wakes a waiting reader at once for the first item, then holds the ones close behind it for the window', async () => {
    const queue = new PushQueue<string>(60_000);
    const batches: string[][] = [];
    const reading = (async () => {
      for await (const batch of queue) batches.push(batch);
    })();
    await sleep(1);
    queue.push('sources');
    await sleep(1);
    assert.deepEqual(batches, [['sources']], 'the first item did not wait');
    queue.push('a');
    queue.push('b');
    await sleep(1);
    assert.deepEqual(batches, [['sources']], 'the window holds the items behind the first');
    queue.push('done');
    queue.end();
    await reading;
    assert.deepEqual(batches, [['sources'], ['a', 'b', 'done']], 'end hands over what the window held');
  });

  it('hands over what it held when the window closes, while the producer is still going', async () => {
    const queue = new PushQueue<number>(5);
    const batches: number[][] = [];
    const reading = (async () => {
      for await (const batch of queue) batches.push(batch);
    })();
    await sleep(1);
    queue.push(1);
    await sleep(0);
    queue.push(2);
    queue.push(3);
    await sleep(30);
    assert.deepEqual(batches, [[1], [2, 3]]);
    queue.push(4);
    await sleep(1);
    assert.deepEqual(batches, [[1], [2, 3], [4]], 'after a quiet window the next item goes at once');
    queue.end();
    await reading;
  });
});
