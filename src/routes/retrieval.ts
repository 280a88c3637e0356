import type { FastifyReply } from 'fastify';
import type { OperationRequest, OperationRoutes, components } from '../api/operations.js';
import { badRequest } from '../errors.js';
import { conversationOf } from '../rag/history.js';
import type { AnswerCompleted, AskRequest } from '../services/ask-service.js';
import type { ConversationService } from '../services/conversation-service.js';
import type { Services } from '../services/create-services.js';
import type { RetrievalOptions } from '../services/retrieval-service.js';
import { DEFAULT_COLLECTION } from '../store/store-contract.js';
import { eventStream, wantsEventStream } from './event-stream.js';
import { writeEvents } from './event-writes.js';
import { ownerOf } from './owner.js';

/** The request's `retrieval` object in the service's terms. */
function retrievalOptions(retrieval: components['schemas']['Retrieval'] | undefined): RetrievalOptions | undefined {
  return retrieval && { mode: retrieval.mode, rrfK: retrieval.rrf_k, weights: retrieval.weights };
}

/** A request to answer, and what to do with the answer once complete (a stored conversation records it). */
interface PreparedAsk {
  question: AskRequest;
  completed?: AnswerCompleted;
}

/**
 * The ask request a body describes: a single question, a question continuing a stored
 * conversation (its turns the history, the answer recorded once complete), or an OpenAI-shaped
 * list of messages. Every refusal comes before any model is called.
 */
async function prepareAsk(request: OperationRequest<'ask' | 'askStream'>, defaultK: number, conversations: ConversationService): Promise<PreparedAsk> {
  const body: components['schemas']['AskRequest'] = request.body;
  const { language, k = defaultK, filter, min_score: minScore } = body;
  const generation = { temperature: body.temperature, topP: body.top_p, maxTokens: body.max_tokens, seed: body.seed };
  const base = { language, k, filter, minScore, retrieval: retrievalOptions(body.retrieval), generation };
  if ((body.question === undefined) === (body.messages === undefined)) {
    throw badRequest('send exactly one of question (optionally with conversation_id) and messages');
  }
  if (body.messages !== undefined) {
    if (body.conversation_id !== undefined) throw badRequest('conversation_id goes with question, not with messages: a stored conversation already holds the earlier turns');
    const { instructions, history, question } = conversationOf(body.messages);
    return { question: { ...base, question, history, instructions, collection: body.collection ?? DEFAULT_COLLECTION } };
  }
  const question = body.question as string;
  const id = body.conversation_id;
  if (id === undefined) return { question: { ...base, question, collection: body.collection ?? DEFAULT_COLLECTION } };
  const conversation = await conversations.history(id, ownerOf(request), request.principal, body.collection);
  return {
    question: { ...base, question, history: conversation.history, conversationId: id, collection: conversation.collection },
    completed: (result) => conversations.record(id, question, result),
  };
}

export function retrievalRoutes(
  { retrieval, ask, similarity, conversations }: Services,
  defaultK: number,
): Pick<OperationRoutes, 'search' | 'ask' | 'askStream' | 'askRedirect' | 'similarity'> {
  const streamAnswer = async (request: OperationRequest<'ask' | 'askStream'>, reply: FastifyReply, prepared: PreparedAsk) => {
    const events = await eventStream(
      request,
      ask.stream(prepared.question, request.clientSignal, prepared.completed),
      ({ type, ...data }) => ({ event: type, data }),
      (problem) => ({ event: 'error', data: problem.body }),
    );
    await writeEvents(reply, events);
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
        const prepared = await prepareAsk(request, defaultK, conversations);
        if (!wantsEventStream(request, request.body.stream)) return ask.ask(prepared.question, request.deadline, prepared.completed);
        await streamAnswer(request, reply, prepared);
      },
    },
    askStream: { sse: 'manual', handler: async (request, reply) => streamAnswer(request, reply, await prepareAsk(request, defaultK, conversations)) },
    // Relative, so that it holds behind a proxy that serves the service under a path prefix.
    askRedirect: async (_request, reply) => reply.redirect('v1/ask', 308),
    similarity: async (request) => similarity.matrix(request.body.queries, request.body.documents, request.deadline),
  };
}
