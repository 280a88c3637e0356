import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { ProblemError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A short fingerprint of the API key the request was made with (never the key), once accepted. */
    apiKeyId: string | undefined;
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
 * matched shows in the response time. With no keys configured every request passes. Runs before
 * the rate limiter, which then counts per key: a request without a valid key costs a 401 only.
 */
export default fp<AuthOptions>(
  async (fastify, { apiKeys, publicPaths }) => {
    const keys = apiKeys.map((key) => ({ digest: digest(key), id: digest(key).toString('hex').slice(0, 12) }));
    const isPublic = publicPathMatcher(publicPaths);
    fastify.decorateRequest('apiKeyId', undefined);
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
      if (!token) throw unauthorized('this service needs an API key: send Authorization: Bearer <key>', false);
      throw unauthorized("the API key is not valid: send Authorization: Bearer <key> with one of the service's API_KEYS", true);
    });
  },
  { name: 'auth' },
);
