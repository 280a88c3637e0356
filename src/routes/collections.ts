import type { OperationRoutes } from '../api/operations.js';
import type { Services } from '../services/create-services.js';

export function collectionRoutes({ collections }: Services): Pick<OperationRoutes, 'listCollections' | 'dropCollection'> {
  return {
    listCollections: async () => ({ collections: await collections.list() }),
    dropCollection: async (request, reply) => {
      await collections.drop(request.params.name);
      return reply.code(204).send();
    },
  };
}
