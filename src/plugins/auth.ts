import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A short fingerprint of the API key the request was made with (never the key), once accepted. */
    apiKeyId: string | undefined;
    /** Why the request may not proceed without a key; thrown by rejectUnauthenticated. */
    authProblem: ProblemError | undefined;
  }
}

export interface AuthOptions {
  apiKeys: string[];
  /** Paths served without a key; one ending in `/*` covers everything below it. */
  publicPaths: string[];
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Whether a path is one of the public ones: listed as is, or under a listed `prefix/*`. */
export function publicPathMatcher(publicPaths: string[]): (path: string) => boolean {
  const exact = new Set(publicPaths.filter((path) => !path.endsWith('/*')));
  const prefixes = publicPaths.filter((path) => path.endsWith('/*')).map((path) => path.slice(0, -1));
  return (path) => exact.has(path) || prefixes.some((prefix) => path.startsWith(prefix));
}

const unauthorized = (detail: string, invalid: boolean) =>
  new ProblemError({
    status: 401,
    slug: 'unauthorized',
    title: 'Unauthorized',
    detail,
    headers: { 'www-authenticate': `Bearer realm="nim-rag"${invalid ? ', error="invalid_token"' : ''}` },
  });

/**
 * Optional API keys, sent as `Authorization: Bearer <key>`. Keys are compared as SHA-256 digests
 * with timingSafeEqual, every configured key each time, so neither a key's content nor which key
 * matched shows in the response time. With no keys configured every request passes. Identifies
 * before the rate limiter, which then counts per key; the refusal comes after it
 * (rejectUnauthenticated), so that failed attempts count against the client's address and
 * guessing keys is rate limited like any other request.
 */
export default fp<AuthOptions>(
  async (fastify, { apiKeys, publicPaths }) => {
    const keys = apiKeys.map((key) => ({ digest: digest(key), id: digest(key).toString('hex').slice(0, 12) }));
    const isPublic = publicPathMatcher(publicPaths);
    fastify.decorateRequest('apiKeyId', undefined);
    fastify.decorateRequest('authProblem', undefined);
    if (keys.length === 0) return;

    fastify.addHook('onRequest', async (request) => {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      if (token) {
        const presented = digest(token);
        for (const key of keys) if (timingSafeEqual(presented, key.digest)) request.apiKeyId = key.id;
      }
      // The matched route, not the raw URL, so that no spelling of a path reaches past the list.
      const path = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
      if (request.apiKeyId || isPublic(path)) return;
      request.authProblem = token
        ? unauthorized("the API key is not valid: send Authorization: Bearer <key> with one of the service's API_KEYS", true)
        : unauthorized('this service needs an API key: send Authorization: Bearer <key>', false);
    });
  },
  { name: 'auth' },
);

/**
 * Refuses what the auth plugin did not accept. A preParsing hook: the rate limiter's hooks are the
 * routes' own onRequest hooks, which run after every global one, and the body of a request that
 * is refused is never parsed.
 */
export async function rejectUnauthenticated<Payload>(request: FastifyRequest, _reply: FastifyReply, payload: Payload): Promise<Payload> {
  if (request.authProblem) throw request.authProblem;
  return payload;
}
