import type { FastifyRequest } from 'fastify';
import type { OperationRoutes, components } from '../api/operations.js';
import type { Chunking } from '../rag/chunking.js';
import type { Services } from '../services/create-services.js';
import { DEFAULT_COLLECTION } from '../store/store-contract.js';

type DocumentOperations = 'ingestDocuments' | 'listDocuments' | 'getDocument' | 'deleteDocument' | 'deleteDocumentsByFilter';

/** An omitted overlap is 15% of the requested size: the proportion of the built-in defaults (CHUNK_SIZE 1000, CHUNK_OVERLAP 150). */
function chunkingOf(requested: components['schemas']['Chunking'] | undefined): Chunking | undefined {
  if (requested === undefined || requested === false) return requested;
  return { size: requested.size, overlap: requested.overlap ?? Math.floor(requested.size * 0.15) };
}

/** The JSON body's size as sent, or as parsed when it came without a Content-Length (chunked). */
function bodyBytes(request: FastifyRequest): number {
  const length = request.headers['content-length'];
  return length === undefined ? Buffer.byteLength(JSON.stringify(request.body)) : Number(length);
}

export function documentRoutes({ documents, jobs }: Services, asyncThresholdBytes: number): Pick<OperationRoutes, DocumentOperations> {
  return {
    ingestDocuments: async (request, reply) => {
      const { collection = DEFAULT_COLLECTION, chunking } = request.body;
      const ingest = { documents: request.body.documents, collection, chunking: chunkingOf(chunking) };
      if (request.query.async === true || bodyBytes(request) > asyncThresholdBytes) {
        const job = await jobs.submitDocuments(ingest, request.principal);
        return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(job);
      }
      const result = await documents.ingest(ingest, request.deadline);
      return reply.code(result.documents.some((document) => document.status === 'created') ? 201 : 200).send(result);
    },
    listDocuments: async (request) => {
      const { collection = DEFAULT_COLLECTION, limit = 100, cursor } = request.query;
      return documents.list(collection, limit, cursor);
    },
    getDocument: async (request) => documents.get(request.query.collection ?? DEFAULT_COLLECTION, request.params.id),
    deleteDocument: async (request, reply) => {
      await documents.delete(request.query.collection ?? DEFAULT_COLLECTION, request.params.id);
      return reply.code(204).send();
    },
    deleteDocumentsByFilter: async (request) =>
      documents.deleteWhere(request.body.collection ?? DEFAULT_COLLECTION, request.body.filter),
  };
}
