import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
    for await (const item of queue) read.push(item);
    assert.deepEqual(read, [1, 2, 3]);
  });

  it('throws the error it was ended with, after the items pushed before it', async () => {
    const queue = new PushQueue<string>();
    queue.push('token');
    queue.end(new Error('the model failed'));
    const read: string[] = [];
    await assert.rejects(async () => {
      for await (const item of queue) read.push(item);
    }, /the model failed/);
    assert.deepEqual(read, ['token']);
  });
});
