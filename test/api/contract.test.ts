import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import openapiTS, { astToString } from 'openapi-typescript';
import { parse } from 'yaml';
import { CONTRACT_PATH } from '../../src/api/contract.js';
import { contractRouteTable, registerContractRoutes, type RouteTable } from '../../src/api/contract-routes.js';
import { schemaCompilers } from '../../src/plugins/validation.js';
import { builtEntry } from '../support/built.js';
import { contractOperations } from '../support/contract.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** "METHOD /path/{param}" for every route the app serves, read from Fastify's route tree (HEAD twins left out). */
function servedRoutes(tree: string): string[] {
  const prefixes: string[] = [];
  return tree.split('\n').flatMap((line) => {
    const match = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) return [];
    const depth = (match[1] as string).length / 4;
    const path = (prefixes[depth - 1] ?? '') + (match[2] as string);
    prefixes[depth] = path;
    return (match[3] as string)
      .split(', ')
      .filter((method) => method !== 'HEAD')
      .map((method) => `${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
  });
}

describe('openapi.yaml is the contract, and the server keeps to it', () => {
  let test: TestApp;
  before(async () => {
    test = await startTestApp();
  });
  after(() => test.close());

  it('serves exactly the operations openapi.yaml declares, no more and no fewer', () => {
    const served = servedRoutes(test.app.printRoutes({ commonPrefix: false })).sort();
    const declared = contractOperations().map(({ method, path }) => `${method} ${path}`).sort();
    assert.ok(served.length > 15, `read ${served.length} routes from the route tree`);
    assert.deepEqual(served, declared);
  });

  it('dist/openapi.json, the build\'s parse of openapi.yaml, is of its current text', async () => {
    await builtEntry('server.js');
    const text = readFileSync(CONTRACT_PATH, 'utf8');
    const built = JSON.parse(readFileSync(join(root, 'dist/openapi.json'), 'utf8')) as { sha256: string; document: unknown };
    assert.equal(built.sha256, createHash('sha256').update(text).digest('hex'));
    assert.deepEqual(built.document, parse(text));
  });

  it('passes Redocly lint with its recommended rules as errors (deliberate exceptions are listed in .redocly.lint-ignore.yaml)', async () => {
    const { stdout, stderr } = await promisify(execFile)(join(root, 'node_modules/.bin/redocly'), ['lint', 'openapi.yaml', '--format=stylish'], {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    // recommended-strict (redocly.yaml) makes any warning an error, which makes the command fail.
    assert.match(stdout + stderr, /Your API description is valid/);
  });

  it('has TypeScript types generated from its current text (npm run generate:api)', async () => {
    const generated = astToString(await openapiTS(new URL(`file://${CONTRACT_PATH}`)));
    const committed = readFileSync(join(root, 'src/api/openapi-types.ts'), 'utf8');
    assert.ok(committed.endsWith(generated), 'src/api/openapi-types.ts is stale: run npm run generate:api');
  });
});

function join(...parts: string[]): string {
  return parts.join('/').replace(/\/+/g, '/');
}

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
