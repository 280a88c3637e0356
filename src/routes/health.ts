import type { OperationRoutes } from '../api/operations.js';
import type { Services } from '../services/create-services.js';

export function healthRoutes({ health }: Services): Pick<OperationRoutes, 'live' | 'ready'> {
  return {
    live: async () => ({ status: 'live' as const }),
    ready: async (_request, reply) => {
      const readiness = await health.readiness();
      return reply.code(readiness.status === 'ready' ? 200 : 503).send(readiness);
    },
  };
}
