import type { OperationRoutes } from '../api/operations.js';
import type { Services } from '../services/create-services.js';
import { openaiError } from '../plugins/problem-errors.js';
import { eventStream } from './event-stream.js';
import { writeEvents } from './event-writes.js';

/** OpenAI's stream ends with a line that is not JSON. */
const DONE = { data: '[DONE]' };
// `data: [DONE]` must go out as is; everything else is JSON.
const serialize = (data: unknown) => (typeof data === 'string' ? data : JSON.stringify(data));

export function openaiRoutes({ chatCompletions }: Services): Pick<OperationRoutes, 'createChatCompletion' | 'listModels' | 'retrieveModel'> {
  return {
    createChatCompletion: {
      config: { errorFormat: 'openai' },
      sse: { kind: 'manual', serializer: serialize },
      handler: async (request, reply) => {
        // As OpenAI does: only `stream: true` streams, whatever the Accept header says.
        if (request.body.stream !== true) return chatCompletions.complete(request.body, request.deadline);
        const chunks = await eventStream(
          request,
          chatCompletions.stream(request.body, request.clientSignal),
          (chunk) => ({ data: chunk }),
          // OpenAI's SDKs raise an error object found in the stream.
          ({ body }) => ({ data: { ...body, error: openaiError(body) } }),
        );
        await writeEvents(reply, chunks, serialize);
        if (reply.sse.isConnected) await reply.sse.send(DONE);
      },
    },
    listModels: { config: { errorFormat: 'openai' }, handler: async () => chatCompletions.models() },
    retrieveModel: { config: { errorFormat: 'openai' }, handler: async (request) => chatCompletions.model(request.params.model) },
  };
}
