import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { coalescedWrites } from '../../src/routes/coalesced-writes.js';

/** A socket stand-in that records what each of its writes carried. */
function recordingSink() {
  const writes: string[][] = [];
  const sink = new Writable({
    decodeStrings: false,
    write(chunk: string, _encoding, done) {
      writes.push([chunk]);
      done();
      sink.emit('recorded');
    },
    writev(chunks, done) {
      writes.push(chunks.map(({ chunk }) => chunk as string));
      done();
      sink.emit('recorded');
    },
  });
  return { sink, writes };
}

/** A later message of the stream: after the ticks already queued (the window's cork), before any timer. */
const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

/** Writes every message it is handed to `sink`, as the SSE reply does. */
async function writeAll(sink: Writable, messages: AsyncIterable<string>): Promise<void> {
  for await (const message of messages) sink.write(message);
}

describe('coalesced writes of a stream', () => {
  it('writes the first message at once and the ones close behind it in one write, flushed at the end', async () => {
    const { sink, writes } = recordingSink();
    async function* events() {
      yield 'sources';
      assert.deepEqual(writes, [['sources']], 'the first message did not wait');
      await nextTick();
      yield 'a';
      yield 'b';
      yield 'done';
    }
    await writeAll(sink, coalescedWrites(sink, events(), 60_000));
    assert.deepEqual(writes, [['sources'], ['a', 'b', 'done']]);
  });

  it('flushes held messages when the window closes, while the stream is still waiting', async () => {
    const { sink, writes } = recordingSink();
    let release!: () => void;
    const waiting = new Promise<void>((resolve) => (release = resolve));
    async function* events() {
      yield 'first';
      await nextTick();
      yield 'second';
      yield 'third';
      await waiting;
      yield 'last';
    }
    const writing = writeAll(sink, coalescedWrites(sink, events(), 5));
    await once(sink, 'recorded');
    await once(sink, 'recorded');
    assert.deepEqual(writes, [['first'], ['second', 'third']]);
    release();
    await writing;
    assert.deepEqual(writes.flat(), ['first', 'second', 'third', 'last']);
  });

  it('flushes what it holds when the reader stops early', async () => {
    const { sink, writes } = recordingSink();
    async function* events() {
      yield 'one';
      await nextTick();
      yield 'two';
      yield 'never';
    }
    for await (const message of coalescedWrites(sink, events(), 60_000)) {
      sink.write(message);
      if (message === 'two') break;
    }
    assert.deepEqual(writes, [['one'], ['two']]);
  });

  it('over HTTP, sends the first message at once although the response corks its socket for each write', { timeout: 10_000 }, async (t) => {
    let received!: () => void;
    const clientHasIt = new Promise<void>((resolve) => (received = resolve));
    async function* events() {
      yield 'data: first\n\n';
      // Only a client that got the first message lets the stream go on; a held write never ends.
      await clientHasIt;
      yield 'data: last\n\n';
    }
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      void (async () => {
        for await (const message of coalescedWrites(response, events(), 60_000)) response.write(message);
        response.end();
      })();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    let text = '';
    for await (const piece of response.body as AsyncIterable<Uint8Array>) {
      text += Buffer.from(piece).toString();
      if (text.includes('first')) received();
    }
    assert.equal(text, 'data: first\n\ndata: last\n\n');
  });
});
