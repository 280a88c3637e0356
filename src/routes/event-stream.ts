import type { FastifyRequest } from 'fastify';
import { type Problem, problemFor } from '../plugins/problem-errors.js';

export interface EventMessage {
  event?: string;
  data: unknown;
}

/** True when the client asked for Server-Sent Events, by its Accept header or by `"stream": true`. */
export function wantsEventStream(request: FastifyRequest, bodyAsks: boolean | undefined): boolean {
  return bodyAsks ?? /\btext\/event-stream\b/.test(request.headers.accept ?? '');
}

/**
 * Waits for a stream's first event before anything is sent, so that a failure before it (the
 * retrieval, say) still gets a plain problem+json reply with its own status; then yields every
 * event. A failure after that can only travel inside the stream: it becomes the message that
 * `onError` makes of its problem document, and the stream ends. A client that left hears nothing.
 */
export async function eventStream<T>(
  request: FastifyRequest,
  events: AsyncGenerator<T>,
  toMessage: (event: T) => EventMessage,
  onError: (problem: Problem) => EventMessage,
): Promise<AsyncGenerator<EventMessage>> {
  const first = await events.next();
  return (async function* () {
    try {
      if (first.done) return;
      yield toMessage(first.value);
      for await (const event of events) yield toMessage(event);
    } catch (error) {
      if (request.clientSignal.aborted) return;
      yield onError(problemFor(error, request));
    } finally {
      // Stopped early (the client left), the source still runs its own cleanup.
      await events.return(undefined);
    }
  })();
}
