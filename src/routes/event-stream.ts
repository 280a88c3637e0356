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
 * Waits for a stream's first batch of events before anything is sent, so that a failure before it
 * (the retrieval, say) still gets a plain problem+json reply with its own status; then yields
 * every batch, as messages. A failure after that can only travel inside the stream: it becomes the
 * message that `onError` makes of its problem document, and the stream ends. A client that left
 * hears nothing.
 */
export async function eventStream<T>(
  request: FastifyRequest,
  batches: AsyncGenerator<T[]>,
  toMessage: (event: T) => EventMessage,
  onError: (problem: Problem) => EventMessage,
): Promise<AsyncGenerator<EventMessage[]>> {
  const first = await batches.next();
  return (async function* () {
    try {
      if (first.done) return;
      yield first.value.map(toMessage);
      for await (const batch of batches) yield batch.map(toMessage);
    } catch (error) {
      if (request.clientSignal.aborted) return;
      yield [onError(problemFor(error, request))];
    } finally {
      // Stopped early (the client left), the source still runs its own cleanup.
      await batches.return(undefined);
    }
  })();
}
