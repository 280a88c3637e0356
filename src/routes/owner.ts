import type { FastifyRequest } from 'fastify';

/** Who owns what a request creates: the name of the API key it was accepted with, or null when the service runs without keys. */
export function ownerOf(request: FastifyRequest): string | null {
  return request.principal?.name ?? null;
}
