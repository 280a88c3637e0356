import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { OperationAccess } from '../api/operation-access.js';
import { KeyRing } from '../auth/key-ring.js';
import { hasScope, mayTouch, type Principal, UNRESTRICTED } from '../auth/principal.js';
import { ProblemError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { DEFAULT_COLLECTION } from '../store/store-contract.js';

/** Why a request was refused, or what a write came to: the `outcome` of its audit line and counter. */
export type AuditOutcome = 'unauthenticated' | 'scope-missing' | 'collection-not-allowed' | 'quota-exceeded' | 'rate-limited' | 'written' | 'write-failed';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts for: its API key's name, scopes and collections; undefined without a key. */
    principal: Principal | undefined;
    /** Why the request may not proceed without a key; thrown by `authorize`. */
    authProblem: ProblemError | undefined;
    /** Set when the request is refused for its key (or the lack of one). */
    auditOutcome: AuditOutcome | undefined;
    /** The collection the request touches, once checked against the key. */
    auditCollection: string | undefined;
  }
  interface FastifyContextConfig {
    /** What the operation needs of a key (from openapi.yaml). */
    access?: OperationAccess;
  }
}

export interface AuthOptions {
  apiKeys: string[];
  keysFile: string | undefined;
  /** Paths served without a key; one ending in `/*` covers everything below it. */
  publicPaths: string[];
  /** The window of a key's rate_limit when it names none. */
  defaultWindowMs: number;
  metrics: Metrics;
  /** Chunks stored in the collections a principal may touch (for its max_chunks). */
  storedChunks: (principal: Principal) => Promise<number>;
}

/** What the request may do: its key's principal, or everything where no key is needed. */
export const principalOf = (request: FastifyRequest): Principal => request.principal ?? UNRESTRICTED;

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

const forbidden = (slug: string, detail: string, extensions: Record<string, unknown>) =>
  new ProblemError({ status: 403, slug, title: 'Forbidden', detail, extensions });

/** "METHOD /path" as openapi.yaml writes the path (`{name}`, not Fastify's `:name`), for messages a client reads beside the contract. */
const operationName = (request: FastifyRequest) => `${request.method} ${(request.routeOptions.url ?? request.url).replace(/:(\w+)/g, '{$1}')}`;

/**
 * The collection named by the request where its operation touches one; the default one when
 * omitted, except for a question in a stored conversation, whose collection is the conversation's
 * (checked by the conversation service, which answers 404 for another key's conversation).
 */
function collectionOf(request: FastifyRequest, access: OperationAccess): string | undefined {
  const { query, path, body } = access.collectionIn;
  if (path) return (request.params as Record<string, string>)[path];
  if (!query && !body) return undefined;
  const sent = body ? (request.body as { collection?: unknown; conversation_id?: unknown } | undefined) : undefined;
  if (sent?.collection === undefined && typeof sent?.conversation_id === 'string') return undefined;
  const fromBody = sent?.collection;
  const fromQuery = query ? (request.query as Record<string, unknown> | undefined)?.[query] : undefined;
  const named = fromBody ?? fromQuery;
  return typeof named === 'string' ? named : DEFAULT_COLLECTION;
}

/**
 * API keys, sent as `Authorization: Bearer <key>`, from API_KEYS (full access) and API_KEYS_FILE
 * (named keys with scopes, collections, limits; see KeyRing). With no keys configured every
 * request passes. The key is identified before the rate limiter, which then counts per key name;
 * the refusal comes after it (`authorize`), so that failed attempts count against the client's
 * address and guessing keys is rate limited like any other request. Each operation's scope comes
 * from openapi.yaml (route config `access`); the collection a request names is checked once its
 * body is parsed and validated, before any handler looks it up, so that a key refused a
 * collection gets the same answer whether it exists or not. Refusals and writes are audited: one
 * log line with the key's name, never the key, and a count by name and outcome.
 */
export default fp<AuthOptions>(
  async (fastify, { apiKeys, keysFile, publicPaths, defaultWindowMs, metrics, storedChunks }) => {
    const ring = await KeyRing.open({ apiKeys, file: keysFile, defaultWindowMs, logger: fastify.log });
    fastify.addHook('onClose', async () => ring.close());
    const isPublic = publicPathMatcher(publicPaths);
    fastify.decorateRequest('principal', undefined);
    fastify.decorateRequest('authProblem', undefined);
    fastify.decorateRequest('auditOutcome', undefined);
    fastify.decorateRequest('auditCollection', undefined);
    if (!ring.enabled) return;

    fastify.addHook('onRequest', async (request) => {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      if (token) request.principal = ring.identify(token);
      // The matched route, not the raw URL, so that no spelling of a path reaches past the list.
      const path = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
      if (request.principal || isPublic(path)) return;
      request.authProblem = token
        ? unauthorized("the API key is not valid: send Authorization: Bearer <key> with one of the service's keys", true)
        : unauthorized('this service needs an API key: send Authorization: Bearer <key>', false);
    });

    fastify.addHook('preHandler', async (request) => {
      const { principal } = request;
      const access = request.routeOptions.config.access;
      if (!principal || !access) return;
      const collection = collectionOf(request, access);
      if (collection === undefined) return;
      request.auditCollection = collection;
      if (!mayTouch(principal, collection)) {
        request.auditOutcome = 'collection-not-allowed';
        throw forbidden(
          'collection-not-allowed',
          `the API key "${principal.name}" may not use the collection "${collection}"; it may use ${principal.collections.join(', ')}`,
          { collection },
        );
      }
      if (access.chunkQuota && principal.maxChunks !== undefined) {
        const stored = await storedChunks(principal);
        if (stored >= principal.maxChunks) {
          request.auditOutcome = 'quota-exceeded';
          throw forbidden(
            'quota-exceeded',
            `the API key "${principal.name}" has ${stored} chunks stored in its collections, its quota is ${principal.maxChunks} (max_chunks in API_KEYS_FILE): delete documents or ask for a larger quota`,
            { limit: 'max_chunks', max_chunks: principal.maxChunks, stored_chunks: stored },
          );
        }
      }
    });

    fastify.addHook('onResponse', async (request, reply) => {
      const access = request.routeOptions.config.access;
      const writes = access?.scope === 'write' || access?.scope === 'admin';
      const outcome = request.auditOutcome ?? (writes ? (reply.statusCode < 400 ? 'written' : 'write-failed') : undefined);
      if (!outcome) return;
      const key = request.principal?.name ?? '-';
      metrics.auditEvents.inc({ key, outcome });
      const audit = { key, outcome, operation: access?.operationId ?? operationName(request), collection: request.auditCollection, status: reply.statusCode };
      if (outcome === 'written' || outcome === 'write-failed') request.log.info({ audit }, `audit: ${outcome} by ${key}`);
      else request.log.warn({ audit }, `audit: refused (${outcome}) ${key}`);
    });
  },
  { name: 'auth' },
);

/**
 * Refuses what the auth plugin did not accept, and a key without the scope its operation needs
 * (except on PUBLIC_PATHS, open to anyone). A preParsing hook: the rate limiter's hooks are the
 * routes' own onRequest hooks, which run after every global one, and the body of a request that
 * is refused is never parsed.
 */
export function authorizer(publicPaths: string[]) {
  const isPublic = publicPathMatcher(publicPaths);
  return async function authorize<Payload>(request: FastifyRequest, _reply: FastifyReply, payload: Payload): Promise<Payload> {
    if (request.authProblem) {
      request.auditOutcome = 'unauthenticated';
      throw request.authProblem;
    }
    const { principal } = request;
    const scope = request.routeOptions.config.access?.scope;
    if (!principal || !scope || scope === 'public' || scope === 'any' || hasScope(principal, scope)) return payload;
    if (isPublic(request.routeOptions.url ?? '')) return payload;
    request.auditOutcome = 'scope-missing';
    throw forbidden(
      'scope-missing',
      `the API key "${principal.name}" lacks the ${scope} scope that ${operationName(request)} needs; it has ${principal.scopes.join(', ')}`,
      { missing_scope: scope },
    );
  };
}
