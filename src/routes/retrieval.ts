import type { OperationRoutes } from '../api/operations.js';
import type { Services } from '../services/create-services.js';
import { DEFAULT_COLLECTION } from '../store/hnsw-store.js';

export function retrievalRoutes({ retrieval, ask }: Services, defaultK: number): Pick<OperationRoutes, 'search' | 'ask'> {
  return {
    search: async (request) => {
      const { query, k = defaultK, collection = DEFAULT_COLLECTION, filter, min_score: minScore } = request.body;
      return { results: await retrieval.search({ query, k, collection, filter, minScore }, request.clientSignal) };
    },
    ask: async (request) => {
      const { question, language, k = defaultK, collection = DEFAULT_COLLECTION, filter, min_score: minScore } = request.body;
      return ask.ask({ question, language, k, collection, filter, minScore }, request.clientSignal);
    },
  };
}
