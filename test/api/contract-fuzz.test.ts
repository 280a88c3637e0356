import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { loadContract } from '../../src/api/contract.js';
import { schemaArbitrary } from '../support/schema-arbitrary.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';
import { UNRESTRICTED } from '../../src/auth/principal.js';

/**
 * Property-based requests generated from openapi.yaml for every operation, as a careless client or
 * an attacker would send them: valid ones, and ones with wrong types, nulls, extremes, unicode, deep
 * nesting, unknown fields, bad path and query parameters, wrong or missing media types, large
 * headers. Every answer must be one the contract declares for the operation (test-app.ts checks
 * status, media type and schema), never a 5xx, and the stored data may change only by a successful
 * write, and then only in the collection that write named. Seeded, so a failure replays;
 * FUZZ_RUNS=n runs more cases per operation.
 */

type Json = Record<string, any>;

const SEED = 20261201;
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const { document } = loadContract() as { document: Json };

const resolve = (ref: string): Json => {
  let node: any = document;
  for (const part of ref.replace(/^#\//, '').split('/')) node = node[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  return node as Json;
};
const deref = (node: Json): Json => (node.$ref ? deref(resolve(node.$ref as string)) : node);

interface Operation {
  id: string;
  method: string;
  path: string;
  pathParams: Json[];
  queryParams: Json[];
  body: Json | undefined;
  statuses: string[];
}

const operations: Operation[] = Object.entries(document.paths as Json).flatMap(([path, item]) =>
  Object.entries(item as Json)
    .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
    .map(([method, operation]: [string, Json]) => {
      const parameters = [...((item as Json).parameters ?? []), ...(operation.parameters ?? [])].map(deref);
      return {
        id: operation.operationId as string,
        method: method.toUpperCase(),
        path,
        pathParams: parameters.filter((parameter) => parameter.in === 'path'),
        queryParams: parameters.filter((parameter) => parameter.in === 'query'),
        body: operation.requestBody?.content?.['application/json']?.schema as Json | undefined,
        statuses: Object.keys(operation.responses as Json),
      };
    }),
);

const WRITES = new Set(['ingestDocuments', 'deleteDocument', 'deleteDocumentsByFilter', 'dropCollection']);

/** Values no schema asks for. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, '', ' ', '\u0000', '\uFEFF', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'ﷺ'.repeat(50), -0, 1e308, -1e308, 2 ** 53 + 1, 0.1, [], {}, [null], { __proto__: { polluted: true } }, { constructor: { prototype: {} } }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 2, max: 3000 }).map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown),
);

/** A value for a schema, valid or, one time in three, deliberately not. */
const valueFor = (schema: Json) => fc.oneof({ weight: 2, arbitrary: schemaArbitrary(schema, resolve) }, { weight: 1, arbitrary: hostile });

/** A body: a valid one, one with a field broken, an unknown field, or something else entirely. */
function bodyFor(schema: Json): fc.Arbitrary<unknown> {
  const valid = schemaArbitrary(schema, resolve);
  const properties = Object.keys((deref(schema).properties ?? {}) as Json);
  const broken =
    properties.length === 0
      ? valid
      : fc.tuple(valid, fc.constantFrom(...properties), hostile).map(([body, field, value]) => ({ ...(body as Json), [field]: value }));
  const extra = fc.tuple(valid, fc.string({ maxLength: 10 }), hostile).map(([body, field, value]) => ({ ...(body as Json), [field]: value }));
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 2, arbitrary: broken }, { weight: 1, arbitrary: extra }, { weight: 1, arbitrary: hostile });
}

/** How the body travels: as JSON, as JSON under another media type, malformed, or not at all. */
const encoding = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ type: 'application/json', raw: undefined as string | undefined }) },
  { weight: 3, arbitrary: fc.constantFrom<string | undefined>('text/plain', 'application/problem+json', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', undefined).map((type) => ({ type, raw: undefined })) },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', 'null', '"text"', '[]', '\u0000', '{"a":1}{"b":2}', `{"x":"${'\\ud800'}"}`).map((raw) => ({ type: 'application/json', raw })) },
  { weight: 1, arbitrary: fc.constant({ type: undefined as string | undefined, raw: '' }) },
);

/** A path parameter: valid, arbitrary text, very long, or a raw escape the router must refuse. */
const pathValue = (schema: Json) =>
  fc.oneof(
    { weight: 3, arbitrary: schemaArbitrary(schema, resolve).map((value) => encodeURIComponent(String(value))) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }).map((value) => encodeURIComponent(value)) },
    { weight: 1, arbitrary: fc.constantFrom(257, 2304, 2305, 6000).map((length) => 'x'.repeat(length)) },
    { weight: 1, arbitrary: fc.constantFrom('%ZZ', '%', '%C0%AF', '..', '%2e%2e', '%00', '%2F', '%E2%82') },
  );

const headers = fc.record(
  {
    accept: fc.constantFrom('application/json', 'text/event-stream', '*/*', 'text/html', 'application/problem+json', '', 'x'.repeat(2000)),
    'x-request-id': fc.oneof(fc.string({ maxLength: 200 }).filter((text) => /^[\x20-\x7e]*$/.test(text)), fc.constant('ok-id')),
    // A length, turned into a header when sent, so that a failing case prints short.
    'x-fuzz': fc.integer({ min: 0, max: 12_000 }),
  },
  { requiredKeys: [] },
);

/** What the store holds: per collection, each document's id and its last change. */
async function storeContents(test: TestApp): Promise<Map<string, string>> {
  const contents = new Map<string, string>();
  for (const { name } of await test.services.collections.list(UNRESTRICTED)) {
    const page = await test.services.documents.list(name, 1000);
    contents.set(name, JSON.stringify(page.documents.map((item) => [item.id, item.updated_at, item.chunks])));
  }
  return contents;
}

/** A 202 hands the write to a background job: it is followed to its end, so that what it changes counts as this request's. */
async function jobFinished(test: TestApp, response: LightMyRequestResponse): Promise<void> {
  if (response.statusCode !== 202) return;
  for await (const view of test.services.jobs.events(response.json<{ id: string }>().id, UNRESTRICTED, AbortSignal.timeout(20_000))) void view;
}

function changedCollections(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((name) => before.get(name) !== after.get(name));
}

function problemViolation(response: LightMyRequestResponse): string | undefined {
  if (response.statusCode < 400) return undefined;
  const type = String(response.headers['content-type'] ?? '');
  if (!/^application\/(problem\+)?json/.test(type)) return `an error as ${type || 'no media type'}`;
  const body = response.json<{ status?: unknown }>();
  return body.status === response.statusCode ? undefined : `an error body whose status is ${String(body.status)}`;
}

describe('contract fuzzing: every operation of openapi.yaml, valid and hostile requests', () => {
  let test: TestApp;
  before(async () => {
    test = await startTestApp({ INGEST_MAX_CHUNKS: '200' });
    for (const collection of ['default', 'other']) {
      const response = await test.app.inject({
        method: 'POST',
        url: '/v1/documents',
        payload: { collection, documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text, metadata: { index, tags: ['a', 'b'] } })) },
      });
      assert.equal(response.statusCode, 201);
    }
  });
  after(() => test.close());

  for (const operation of operations) {
    it(`${operation.method} ${operation.path} (${operation.id})`, async () => {
      const request = fc.record({
        path: fc.tuple(...operation.pathParams.map((parameter) => pathValue(parameter.schema as Json))),
        query: fc.tuple(
          fc.tuple(...operation.queryParams.map((parameter) => fc.option(valueFor(parameter.schema as Json), { nil: undefined }))),
          fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 }), { maxKeys: 2 }),
        ),
        body: operation.body ? bodyFor(operation.body) : fc.option(hostile, { nil: undefined }),
        encoding,
        headers,
      });
      await fc.assert(
        fc.asyncProperty(request, async ({ path, query: [declared, extra], body, encoding, headers }) => {
          let url = operation.path;
          operation.pathParams.forEach((parameter, index) => (url = url.replace(`{${parameter.name as string}}`, path[index] as string)));
          const search = new URLSearchParams(extra);
          operation.queryParams.forEach((parameter, index) => {
            const value = declared[index];
            if (value !== undefined) search.set(parameter.name as string, typeof value === 'string' ? value : JSON.stringify(value));
          });
          const queryString = search.toString();
          const sendsBody = operation.method !== 'GET' && body !== undefined;
          const before = await storeContents(test);
          test.violations.length = 0;
          const response = await test.app.inject({
            method: operation.method as 'GET',
            url: queryString ? `${url}?${queryString}` : url,
            headers: { ...headers, 'x-fuzz': 'h'.repeat(headers['x-fuzz'] ?? 0), ...(sendsBody && encoding.type ? { 'content-type': encoding.type } : {}) },
            ...(sendsBody ? { payload: encoding.raw ?? JSON.stringify(body) } : {}),
          });
          const where = `${operation.method} ${url} → ${response.statusCode}: ${response.body.slice(0, 300)}`;
          assert.ok(response.statusCode < 500, where);
          // Also for answers given before routing (test-app.ts sees those as route-less); a path that
          // resolves elsewhere (`..`) is no longer this operation's.
          const elsewhere = response.statusCode === 404 && /^no route /.test(response.json<{ detail: string }>().detail);
          assert.ok(elsewhere || operation.statuses.includes(String(response.statusCode)), `${where}: status not declared`);
          assert.deepEqual(test.violations, [], where);
          assert.equal(problemViolation(response), undefined, where);
          await jobFinished(test, response);
          const changed = changedCollections(before, await storeContents(test));
          if (response.statusCode >= 400 || !WRITES.has(operation.id)) assert.deepEqual(changed, [], `${where}: data changed`);
          else {
            const named = (body as Json | undefined)?.collection ?? new URLSearchParams(queryString).get('collection') ?? (operation.id === 'dropCollection' ? decodeURIComponent(path[0] as string) : 'default');
            assert.ok(changed.every((name) => name === named), `${where}: changed ${changed.join(', ')}, not only ${String(named)}`);
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
      );
    });
  }
});
