import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { contractRouteTable, registerContractRoutes, type RouteTable } from '../../src/api/contract-routes.js';
import { schemaCompilers } from '../../src/plugins/validation.js';

/**
 * The service compiles a route's validators and serialisers at their first use (src/plugins/validation.ts),
 * so nothing at start-up would notice a schema that ajv (strict) or fast-json-stringify refuses. Here fastify
 * compiles every one of them at once, with the service's own compilers, as it would at ready without laziness.
 */
async function compileAll(table: RouteTable): Promise<{ validators: string[]; serializers: string[] }> {
  const { validator, serializer } = schemaCompilers();
  const compiled = { validators: [] as string[], serializers: [] as string[] };
  const app = Fastify({ exposeHeadRoutes: false });
  app.setValidatorCompiler((route) => {
    compiled.validators.push(`${route.method} ${route.url} ${route.httpPart}`);
    return validator(route);
  });
  app.setSerializerCompiler((route) => {
    compiled.serializers.push(`${route.method} ${route.url} ${route.httpStatus}`);
    return serializer(route);
  });
  // Parsers for every media type, as the app has, so that fastify compiles each body schema it would validate.
  for (const contentType of table.contentTypes) {
    if (!app.hasContentTypeParser(contentType)) app.addContentTypeParser(contentType, (_request, _payload, done) => done(null, undefined));
  }
  await registerContractRoutes(app, table, () => ({ handler: async () => undefined }));
  await app.ready();
  await app.close();
  return compiled;
}

describe("every schema of the contract compiles with the service's compilers", () => {
  it('compiles the request validators and response serialisers of every operation', async () => {
    const table = await contractRouteTable();
    const { validators, serializers } = await compileAll(table);
    const withBody = table.routes.filter((route) => route.schema.body !== undefined);
    const withQuery = table.routes.filter((route) => route.schema.querystring !== undefined);
    const withResponses = table.routes.filter((route) => route.schema.response !== undefined);
    assert.ok(withBody.length > 5 && withResponses.length > 10, `${withBody.length} bodies, ${withResponses.length} of ${table.routes.length} with responses`);
    for (const route of withBody) assert.ok(validators.includes(`${route.method} ${route.url} body`), `${route.method} ${route.url}: body validator`);
    for (const route of withQuery) assert.ok(validators.includes(`${route.method} ${route.url} querystring`), `${route.method} ${route.url}: query validator`);
    for (const route of withResponses) {
      assert.ok(serializers.some((entry) => entry.startsWith(`${route.method} ${route.url} `)), `${route.method} ${route.url}: a response serialiser`);
    }
  });

  it('fails on a schema that strict ajv refuses, as a broken contract would', async () => {
    const table = await contractRouteTable();
    const [first] = table.routes.filter((route) => route.schema.querystring !== undefined);
    assert.ok(first);
    const broken: RouteTable = { ...table, routes: [{ ...first, schema: { ...first.schema, querystring: { type: 'object', properties: { a: { type: 'strnig' } } } } }] };
    await assert.rejects(compileAll(broken), /strnig|type must be/i);
  });
});
