import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CONTRACT_PATH } from '../../src/api/contract.js';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

/** The value of one sample of a metric in Prometheus' text format. */
function sample(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const line = metrics
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{`) && wanted.every((label) => candidate.includes(label)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('metrics, request ids, the contract and its browsable view', () => {
  let embedNim: NimEmulator;
  let test: TestApp;
  const get = (url: string, headers: Record<string, string> = {}) => test.app.inject({ method: 'GET', url, headers });

  before(async () => {
    embedNim = await NimEmulator.start({ models: [EMBED_MODEL] });
    test = await startTestApp({ NIM_EMBEDDINGS_URL: embedNim.url, LLM_PROVIDER: 'local', NIM_MAX_RETRIES: '1' });
  });
  after(async () => {
    await test.close();
    await embedNim.stop();
  });

  it('exposes request latency by route, NIM calls and failures by endpoint, ingested chunks and store size', async () => {
    const ingest = { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) };
    await test.app.inject({ method: 'POST', url: '/v1/documents', payload: ingest });
    await test.app.inject({ method: 'POST', url: '/v1/documents', payload: ingest });
    embedNim.failNext({ path: '/v1/embeddings', status: 503, retryAfter: '0' });
    await test.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'Italy' } });
    await get('/v1/documents/missing');
    const response = await get('/metrics');
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
    const metrics = response.body;
    assert.equal(sample(metrics, 'http_request_duration_seconds_count', { route: '/v1/documents', method: 'POST', status: '201' }), 1);
    assert.equal(sample(metrics, 'http_request_duration_seconds_count', { route: '/v1/documents', method: 'POST', status: '200' }), 1);
    assert.equal(sample(metrics, 'http_request_duration_seconds_count', { route: '/v1/documents/:id', status: '404' }), 1);
    assert.equal(sample(metrics, 'nim_request_duration_seconds_count', { endpoint: '/embeddings', model: EMBED_MODEL, status: '200' }), 2);
    assert.equal(sample(metrics, 'nim_request_failures_total', { endpoint: '/embeddings', reason: '503' }), 1);
    assert.equal(sample(metrics, 'rag_ingested_chunks_total', { collection: 'default', vector: 'embedded' }), 5);
    assert.equal(sample(metrics, 'rag_store_documents', { collection: 'default' }), 5);
    assert.equal(sample(metrics, 'rag_store_chunks', { collection: 'default', tier: 'exact' }), 5);
    assert.match(metrics, /^process_resident_memory_bytes \d+/m, 'and the Node.js process metrics');
  });

  it('gives every response an x-request-id, keeping a sane one the caller sent', async () => {
    const generated = await get('/v1/health/live');
    assert.match(generated.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
    assert.equal((await get('/v1/health/live', { 'x-request-id': 'trace-42.a:b' })).headers['x-request-id'], 'trace-42.a:b');
    const hostile = await get('/v1/health/live', { 'x-request-id': 'x\nforged log line' });
    assert.match(hostile.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/, 'a request id that could forge log lines is replaced');
    const problem = (await get('/v1/documents/missing', { 'x-request-id': 'req-7' })).json();
    assert.equal(problem.request_id, 'req-7');
  });

  it('serves openapi.yaml as it is, and a browsable view whose scripts and styles load', async () => {
    const contract = await get('/openapi.yaml');
    assert.equal(contract.statusCode, 200);
    assert.match(contract.headers['content-type'] as string, /^application\/yaml/);
    assert.equal(contract.body, readFileSync(CONTRACT_PATH, 'utf8'));
    const page = await get('/docs');
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    const assets = [...page.body.matchAll(/(?:src|href)="(docs\/assets\/[^"]+)"/g)].map((match) => match[1] as string);
    assert.deepEqual(assets.sort(), ['docs/assets/favicon-32x32.png', 'docs/assets/start.js', 'docs/assets/swagger-ui-bundle.js', 'docs/assets/swagger-ui.css']);
    for (const asset of assets) {
      const loaded = await get(`/${asset}`);
      assert.equal(loaded.statusCode, 200, asset);
      assert.ok(loaded.rawPayload.length > 0, asset);
    }
    assert.match((await get('/docs/assets/start.js')).body, /SwaggerUIBundle\(\{ url: 'openapi\.yaml'/);
    assert.equal((await get('/docs/assets/secrets.env')).statusCode, 400, 'only the listed files are served');
  });
});
