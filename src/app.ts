import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import { fastifySSE } from '@fastify/sse';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify';
import { loadContract } from './api/contract.js';
import { contractRouteTable, registerContractRoutes } from './api/contract-routes.js';
import { operationAccess } from './api/operation-access.js';
import type { Config } from './config.js';
import { ProblemError } from './errors.js';
import { requestScope } from './logger.js';
import auth, { authorizer, publicPathMatcher } from './plugins/auth.js';
import { clientErrorHandler, frameworkErrors } from './plugins/framework-errors.js';
import httpMetrics from './plugins/http-metrics.js';
import mediaTypes from './plugins/media-types.js';
import protection from './plugins/protection.js';
import problemErrors from './plugins/problem-errors.js';
import requestSignals from './plugins/request-signals.js';
import validation from './plugins/validation.js';
import { operationRoutes } from './routes/index.js';
import { PLAYGROUND_DIR } from './routes/playground.js';
import type { Services } from './services/create-services.js';

export interface AppOptions {
  config: Config;
  services: Services;
  logger: FastifyBaseLogger;
}

/** A caller's request id is kept (and echoed) when it is a plain token; anything else gets a fresh one. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Longest path parameter, as sent: a document id of 256 characters, each percent-encoded
 * (three bytes of UTF-8, nine characters). Fastify's default (100) refused ids the API accepts.
 */
const MAX_PARAM_LENGTH = 256 * 9;

/**
 * On close, Node ends the keep-alive connections idle at that moment; one whose request is still
 * in flight becomes idle later and would hold the stop for the whole keep-alive timeout. So idle
 * connections are ended until the server has closed.
 */
function closeKeepAliveConnectionsWhenDone(app: FastifyInstance): void {
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
  });
  app.addHook('onClose', async () => clearInterval(sweeper));
}

/** The HTTP app: every route comes from openapi.yaml, validated by its schemas, served by a thin handler. */
export async function buildApp({ config, services, logger }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: config.http.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
  });
  // First of all hooks, so that everything after it (handler and services included) runs in the request's scope.
  app.addHook('onRequest', (request, _reply, done) => requestScope.run(String(request.id), done));
  await app.register(validation);
  await app.register(mediaTypes);
  await app.register(requestSignals, { requestTimeoutMs: config.http.requestTimeoutMs });
  await app.register(problemErrors);
  await app.register(httpMetrics, { metrics: services.metrics });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(protection, {
    allowedHosts: config.allowedHosts,
    maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    unshedPaths: ['/v1/health/live', '/v1/health/ready', '/metrics'],
  });
  await app.register(auth, {
    ...config.auth,
    defaultWindowMs: config.rateLimit.windowMs,
    metrics: services.metrics,
    storedChunks: (principal) => services.collections.storedChunks(principal),
  });
  // Per key name where the keys file may give a key its own limit, per client address without a key.
  if (config.rateLimit.max > 0 || config.auth.keysFile !== undefined) {
    const isPublic = publicPathMatcher(config.auth.publicPaths);
    const limitOf = (request: FastifyRequest) => request.principal?.rateLimit ?? { max: config.rateLimit.max, windowMs: config.rateLimit.windowMs };
    await app.register(rateLimit, {
      max: (request) => limitOf(request).max,
      timeWindow: (request) => limitOf(request).windowMs,
      keyGenerator: (request) => (request.principal ? `key:${request.principal.name}` : `ip:${request.ip}`),
      // A limit of 0 is none.
      allowList: (request) => isPublic(request.routeOptions.url ?? '') || limitOf(request).max === 0,
      errorResponseBuilder: (request, context) => {
        request.auditOutcome = 'rate-limited';
        const { principal } = request;
        const { windowMs } = limitOf(request);
        const own = principal?.rateLimit !== undefined;
        const limit = own ? 'rate_limit' : 'RATE_LIMIT_MAX';
        return new ProblemError({
          status: 429,
          slug: 'rate-limited',
          title: 'Too Many Requests',
          detail: `more than ${context.max} requests in ${windowMs / 1000} s from this ${principal ? 'API key' : 'address'} (${own ? `the rate_limit of key "${principal?.name}" in API_KEYS_FILE` : 'RATE_LIMIT_MAX'}); retry in ${context.after}`,
          extensions: { limit, max: context.max, window_ms: windowMs },
        });
      },
    });
  }
  app.addHook('preParsing', authorizer(config.auth.publicPaths));
  await app.register(fastifySSE, { heartbeatInterval: 15_000 });
  // Only reply.sendFile: the playground's routes come from openapi.yaml like every other.
  await app.register(fastifyStatic, { root: PLAYGROUND_DIR, serve: false });
  // Limits are set per upload (routes/file-upload.ts); here only the parser is registered.
  await app.register(multipart);
  closeKeepAliveConnectionsWhenDone(app);

  const routes = operationRoutes(services, config) as Record<string, RouteOptions['handler'] | Partial<RouteOptions>>;
  const { document } = loadContract();
  const access = operationAccess(document);
  await registerContractRoutes(app, await contractRouteTable(), (operationId) => {
    const route = routes[operationId];
    if (!route) throw new Error(`openapi.yaml operation ${operationId} has no route`);
    // Every route carries what its operation needs of a key, for the auth plugin's hooks.
    const options = typeof route === 'function' ? { handler: route } : route;
    return { ...options, config: { ...options.config, access: access.get(operationId) } };
  });
  return app;
}
