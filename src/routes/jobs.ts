import type { OperationRoutes } from '../api/operations.js';
import { principalOf } from '../plugins/auth.js';
import type { Services } from '../services/create-services.js';

const FINISHED = new Set(['completed', 'failed', 'cancelled']);

export function jobRoutes({ jobs }: Services): Pick<OperationRoutes, 'getJob' | 'cancelJob' | 'jobEvents'> {
  return {
    getJob: async (request) => jobs.get(request.params.id, principalOf(request)),
    cancelJob: async (request) => jobs.cancel(request.params.id, principalOf(request)),
    jobEvents: {
      sse: 'manual',
      handler: async (request, reply) => {
        const updates = jobs.events(request.params.id, principalOf(request), request.clientSignal);
        // An unknown job is a plain 404 before any event is sent.
        const first = await updates.next();
        await reply.sse.send(
          (async function* () {
            for (let next = first; !next.done; next = await updates.next()) {
              yield { event: FINISHED.has(next.value.state) ? 'done' : 'progress', data: next.value };
            }
          })(),
        );
      },
    },
  };
}
