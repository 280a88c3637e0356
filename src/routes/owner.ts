import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/**
 * Who owns what a request creates: the SHA-256 of the API key it was accepted with, or null when
 * the service runs without keys.
 */
export function ownerOf(request: FastifyRequest): string | null {
  if (!request.principal) return null;
  const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
  return createHash('sha256').update(token).digest('hex');
}
