import type { OperationRoutes } from '../api/operations.js';
import type { Services } from '../services/create-services.js';
import { DEFAULT_COLLECTION } from '../store/store-contract.js';
import { ownerOf } from './owner.js';

export function conversationRoutes({ conversations }: Services): Pick<OperationRoutes, 'createConversation' | 'getConversation' | 'deleteConversation'> {
  return {
    createConversation: async (request, reply) => {
      const conversation = await conversations.create(request.body.collection ?? DEFAULT_COLLECTION, ownerOf(request));
      return reply.code(201).header('location', `/v1/conversations/${conversation.id}`).send(conversation);
    },
    getConversation: async (request) => conversations.get(request.params.id, ownerOf(request)),
    deleteConversation: async (request, reply) => {
      await conversations.delete(request.params.id, ownerOf(request));
      return reply.code(204).send();
    },
  };
}
