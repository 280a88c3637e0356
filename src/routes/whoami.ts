import type { OperationRoutes } from '../api/operations.js';
import { principalOf } from '../plugins/auth.js';

export function whoamiRoutes(): Pick<OperationRoutes, 'whoami'> {
  return {
    whoami: async (request) => {
      const principal = principalOf(request);
      return {
        name: request.principal ? principal.name : null,
        scopes: [...principal.scopes],
        collections: [...principal.collections],
        rate_limit: principal.rateLimit ? { max: principal.rateLimit.max, window_ms: principal.rateLimit.windowMs } : null,
        max_chunks: principal.maxChunks ?? null,
      };
    },
  };
}
