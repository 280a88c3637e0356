import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import openapiGlue from 'fastify-openapi-glue';
import { loadContract } from './api/contract.js';
import type { Config } from './config.js';
import clientSignal from './plugins/client-signal.js';
import problemErrors from './plugins/problem-errors.js';
import validation from './plugins/validation.js';
import { operationRoutes } from './routes/index.js';
import type { Services } from './services/create-services.js';

export interface AppOptions {
  config: Config;
  services: Services;
  logger: FastifyBaseLogger;
}

/** The HTTP app: every route comes from openapi.yaml, validated by its schemas, served by a thin handler. */
export async function buildApp({ config, services, logger }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: 50 * 1024 * 1024,
  });
  // The contract's error responses are problem+json; parsing it like JSON keeps the media types symmetric.
  app.addContentTypeParser('application/problem+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  await app.register(validation);
  await app.register(clientSignal);
  await app.register(problemErrors);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const routes = operationRoutes(services, config) as Record<string, unknown>;
  await app.register(openapiGlue, {
    specification: loadContract().document,
    operationResolver: (operationId: string) => {
      const route = routes[operationId];
      if (!route) throw new Error(`openapi.yaml operation ${operationId} has no route`);
      return route as never;
    },
  });
  return app;
}
