import type { OperationRoutes } from '../api/operations.js';
import { principalOf } from '../plugins/auth.js';
import type { Services } from '../services/create-services.js';

export function collectionRoutes({ collections }: Services): Pick<OperationRoutes, 'listCollections' | 'dropCollection'> {
  return {
    listCollections: async (request) => ({ collections: await collections.list(principalOf(request)) }),
    dropCollection: async (request, reply) => {
      await collections.drop(request.params.name);
      return reply.code(204).send();
    },
  };
}
