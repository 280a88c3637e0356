import type { FastifyReply } from 'fastify';
import type { EventMessage } from './event-stream.js';

/** One event as @fastify/sse writes it: `event:` when named, a `data:` line per line of the serialised data, a blank line. */
function formatEvent({ event, data }: EventMessage, serialize: (data: unknown) => string): string {
  let text = event ? `event: ${event}\n` : '';
  for (const line of serialize(data).split('\n')) text += `data: ${line}\n`;
  return `${text}\n`;
}

/** Resolves when `reply`'s socket takes more, or when the client has gone. */
function drained(reply: FastifyReply): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      reply.raw.off('drain', done);
      reply.raw.off('close', done);
      resolve();
    };
    reply.raw.on('drain', done);
    reply.raw.on('close', done);
  });
}

/**
 * Writes each batch of events to the SSE reply in one write (one system call for the tokens a
 * model produced within a few ms), in the format and with the headers of `reply.sse.send`, waiting
 * while the client reads slower than the stream produces. Stops when the client has gone.
 */
export async function writeEvents(reply: FastifyReply, batches: AsyncIterable<EventMessage[]>, serialize: (data: unknown) => string = JSON.stringify): Promise<void> {
  for await (const batch of batches) {
    if (!reply.sse.isConnected) break;
    reply.sse.sendHeaders();
    let text = '';
    for (const message of batch) text += formatEvent(message, serialize);
    if (!reply.raw.write(text)) await drained(reply);
  }
}
