import type { FastifyReply } from 'fastify';
import type { OperationRequest, OperationRoutes, components } from '../api/operations.js';
import type { AskRequest } from '../services/ask-service.js';
import type { Services } from '../services/create-services.js';
import type { RetrievalOptions } from '../services/retrieval-service.js';
import { DEFAULT_COLLECTION } from '../store/store-contract.js';
import { coalescedWrites } from './coalesced-writes.js';
import { eventStream, wantsEventStream } from './event-stream.js';

/** The request's `retrieval` object in the service's terms. */
function retrievalOptions(retrieval: components['schemas']['Retrieval'] | undefined): RetrievalOptions | undefined {
  return retrieval && { mode: retrieval.mode, rrfK: retrieval.rrf_k, weights: retrieval.weights };
}

function askRequestOf(body: components['schemas']['AskRequest'], defaultK: number): AskRequest {
  const { question, language, k = defaultK, collection = DEFAULT_COLLECTION, filter, min_score: minScore } = body;
  return {
    question,
    language,
    k,
    collection,
    filter,
    minScore,
    retrieval: retrievalOptions(body.retrieval),
    generation: { temperature: body.temperature, topP: body.top_p, maxTokens: body.max_tokens, seed: body.seed },
  };
}

export function retrievalRoutes(
  { retrieval, ask, similarity }: Services,
  defaultK: number,
): Pick<OperationRoutes, 'search' | 'ask' | 'askStream' | 'askRedirect' | 'similarity'> {
  const streamAnswer = async (request: OperationRequest<'ask' | 'askStream'>, reply: FastifyReply, question: AskRequest) => {
    const events = await eventStream(
      request,
      ask.stream(question, request.clientSignal),
      ({ type, ...data }) => ({ event: type, data }),
      (problem) => ({ event: 'error', data: problem.body }),
    );
    await reply.sse.send(coalescedWrites(reply.raw, events));
  };
  return {
    search: async (request) => {
      const { query, k = defaultK, collection = DEFAULT_COLLECTION, filter, min_score: minScore } = request.body;
      const search = { query, k, collection, filter, minScore, retrieval: retrievalOptions(request.body.retrieval) };
      return { results: await retrieval.search(search, request.deadline) };
    },
    ask: {
      sse: 'manual',
      handler: async (request, reply) => {
        const question = askRequestOf(request.body, defaultK);
        if (!wantsEventStream(request, request.body.stream)) return ask.ask(question, request.deadline);
        await streamAnswer(request, reply, question);
      },
    },
    askStream: { sse: 'manual', handler: async (request, reply) => streamAnswer(request, reply, askRequestOf(request.body, defaultK)) },
    // Relative, so that it holds behind a proxy that serves the service under a path prefix.
    askRedirect: async (_request, reply) => reply.redirect('v1/ask', 308),
    similarity: async (request) => similarity.matrix(request.body.queries, request.body.documents, request.deadline),
  };
}
