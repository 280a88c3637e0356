import Fastify, { type FastifyContextConfig, type FastifyInstance, type RouteOptions } from 'fastify';
import { loadContract, routingContract } from './contract.js';

/** One operation of openapi.yaml as fastify routes it: what fastify-openapi-glue's parser makes of it. */
export interface ContractRoute {
  method: string;
  url: string;
  operationId: string;
  schema: Record<string, unknown>;
  config?: FastifyContextConfig;
}

export interface RouteTable {
  routes: ContractRoute[];
  /** The media types of the operations' bodies, each of which needs a body parser (as the glue warns). */
  contentTypes: string[];
}

interface Bodies {
  body?: { content?: object };
  response?: Record<string, { content?: object }>;
}

/** The media types of a route's request and response bodies. */
function mediaTypes({ body, response = {} }: Bodies): string[] {
  return [body, ...Object.values(response)].flatMap((media) => Object.keys(media?.content ?? {}));
}

/**
 * openapi.yaml's routes, as fastify-openapi-glue registers them: its plugin, on a bare fastify
 * instance that only records the routes (onRoute) and never compiles them. The glue validates the
 * whole document against the OpenAPI schema at each registration, about a third of a second of CPU
 * per app built, so the build does it once (scripts/build-contract.mjs writes the table into
 * dist/openapi.json for the built process) and the sources once per process.
 */
export async function parseRouteTable(document: Record<string, unknown>): Promise<RouteTable> {
  // Loaded only here: the validator it brings (three ajv builds) is a part of a start that the built process need not pay.
  const { default: openapiGlue } = await import('fastify-openapi-glue');
  // Without HEAD routes of its own: the app that takes the table makes those for its GET routes.
  const recorder = Fastify({ exposeHeadRoutes: false });
  const routes: ContractRoute[] = [];
  recorder.addHook('onRoute', ({ method, url, schema, config }) => {
    const { operationId } = schema as { operationId: string };
    routes.push({ method: String(method), url, operationId, schema: structuredClone(schema) as Record<string, unknown>, ...(config && { config }) });
  });
  await recorder.register(openapiGlue, { specification: routingContract(document), operationResolver: () => async () => undefined });
  await recorder.close();
  return { routes, contentTypes: [...new Set(routes.flatMap((route) => mediaTypes(route.schema as Bodies)))] };
}

let table: Promise<RouteTable> | undefined;

/** The contract's route table: the build's for the built process, else parsed once per process. */
export function contractRouteTable(): Promise<RouteTable> {
  const { document, routeTable } = loadContract();
  table ??= routeTable ? Promise.resolve(routeTable) : parseRouteTable(document);
  return table;
}

/**
 * What the glue's plugin does with the table (fastify-openapi-glue 4, without its security handlers,
 * which this service does not use): one route per operation, in a scope of their own, with the
 * options `resolve` gives for its operationId. Each app gets its own copy of the schemas, since
 * fastify keeps state on the schema objects it compiles.
 */
export async function registerContractRoutes(
  app: FastifyInstance,
  table: RouteTable,
  resolve: (operationId: string) => Partial<RouteOptions>,
): Promise<void> {
  for (const contentType of table.contentTypes) {
    if (!app.hasContentTypeParser(contentType)) app.log.warn(`ContentTypeParser for '${contentType}' not found`);
  }
  const routes = structuredClone(table.routes);
  await app.register(async (scope) => {
    for (const { method, url, schema, config, operationId } of routes) {
      scope.route({ method, url, schema, config, ...resolve(operationId) } as RouteOptions);
    }
  });
}
