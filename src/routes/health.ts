import type { OperationRoutes } from '../api/operations.js';
import { principalOf } from '../plugins/auth.js';
import type { Services } from '../services/create-services.js';

/** `anonymousGetsSummary`: API keys are configured, so a caller without one learns only ready or not. */
export function healthRoutes({ health }: Services, anonymousGetsSummary: boolean): Pick<OperationRoutes, 'live' | 'ready'> {
  return {
    live: async () => ({ status: 'live' as const }),
    ready: async (request, reply) => {
      const readiness = anonymousGetsSummary && !request.principal ? await health.summary() : await health.readiness(principalOf(request));
      return reply.code(readiness.status === 'ready' ? 200 : 503).send(readiness);
    },
  };
}
