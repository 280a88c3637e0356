import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { diskFaults } from '../../src/store/durable-fs.js';
import { type ChildServer, kill, killAll, startServer } from '../support/child-server.js';
import { embeddingRewrites, type Fault, FaultyNim } from '../support/faulty-nim.js';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { startTestApp, type TestApp, temporaryDir, unusedPort } from '../support/test-app.js';
import { imageNodeLane } from '../support/lanes.js';

const EMBEDDINGS = '/v1/embeddings';

/** A request of `count` documents, stored whole (one chunk each), so a 120-document ingest spans three embedding batches. */
const documents = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => ({ id: `${prefix}-${index}`, text: `Document ${index} of ${prefix} about topic ${index % 7}.` }));
const ingestBody = (prefix: string, count = 120) => ({ documents: documents(prefix, count), chunking: false });

async function call(base: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** Every document id the service lists, sorted. */
async function storedIds(base: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { documents: Array<{ id: string }>; next_cursor: string | null } } = await call(
      base,
      'GET',
      `/v1/documents?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    ids.push(...page.body.documents.map((document) => document.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  return ids.sort();
}

const idsOf = (prefix: string, count = 120) => documents(prefix, count).map((document) => document.id);
const sorted = (ids: string[]) => [...ids].sort();

const shrinkAll = embeddingRewrites.allWrongDimension(512);

describe('NIM and disk faults during ingest: whole requests or nothing', () => {
  let nim: NimEmulator;
  let proxy: FaultyNim;
  let test: TestApp;
  let base: string;
  let held: string[] = [];

  before(async () => {
    nim = await NimEmulator.start({ models: [EMBED_MODEL] });
    proxy = await FaultyNim.start(nim.origin);
    test = await startTestApp({ NIM_EMBEDDINGS_URL: proxy.url, LLM_PROVIDER: 'local', NIM_MAX_RETRIES: '1', NIM_TIMEOUT_MS: '1000' });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    assert.equal((await call(base, 'POST', '/v1/documents', ingestBody('prior', 10))).status, 201);
    held = idsOf('prior', 10);
  });
  after(async () => {
    await test.close();
    await proxy.stop();
    await nim.stop();
  });
  beforeEach(() => proxy.clear());

  const persistent: Array<[string, Fault, number]> = [
    ['a vector of the wrong dimension', { kind: 'rewrite', rewrite: embeddingRewrites.wrongDimension(25, 512) }, 502],
    ['an empty vector', { kind: 'rewrite', rewrite: embeddingRewrites.wrongDimension(25, 0) }, 502],
    ['NaN', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(25, 'NaN') }, 502],
    ['1e400', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(25, '1e400') }, 502],
    ['a string', { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(25, '"0.1"') }, 502],
    ['an all-null vector', { kind: 'rewrite', rewrite: embeddingRewrites.allNull(25) }, 502],
    ['an all-zero vector', { kind: 'rewrite', rewrite: embeddingRewrites.zeroVector(25) }, 502],
    ['a duplicate index', { kind: 'rewrite', rewrite: embeddingRewrites.badIndex(3, 4) }, 502],
    ['an index out of range', { kind: 'rewrite', rewrite: embeddingRewrites.badIndex(3, 50) }, 502],
    ['one embedding too few', { kind: 'rewrite', rewrite: embeddingRewrites.wrongCount }, 502],
    ['consistent vectors of another size than the store holds', { kind: 'rewrite', rewrite: shrinkAll }, 502],
    ['a truncated body', { kind: 'truncate' }, 502],
    ['an HTML page with 200', { kind: 'body', contentType: 'text/html', body: '<html>proxy error</html>' }, 502],
    ['an empty body with 200', { kind: 'body', contentType: 'application/json', body: '' }, 502],
    ['a reset after the headers', { kind: 'reset-after-headers' }, 503],
    ['a reset before the headers', { kind: 'reset-before-headers' }, 503],
    ['a 500 burst', { kind: 'status', status: 500 }, 502],
    ['a persistent 503', { kind: 'status', status: 503 }, 503],
    ['a 429 with a day-long Retry-After', { kind: 'status', status: 429, retryAfter: '86400' }, 503],
    ['a hang', { kind: 'hang' }, 504],
  ];

  for (const [what, fault, status] of persistent) {
    it(`on ${what} from the embedding NIM every time: ${status}, naming the model, and nothing of the request stored`, async () => {
      proxy.inject(EMBEDDINGS, fault, Infinity);
      const response = await call(base, 'POST', '/v1/documents', ingestBody('faulted'));
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(response.body.model, EMBED_MODEL);
      if (status === 503) assert.ok(Number(response.headers.get('retry-after')) > 0, 'a 503 says when to come back');
      proxy.clear();
      assert.deepEqual(await storedIds(base), held);
    });
  }

  it('retries a query embedding of another size than the store holds, and answers a persistent one with a 502, not a 500', async () => {
    proxy.inject(EMBEDDINGS, { kind: 'rewrite', rewrite: shrinkAll });
    const retried = await call(base, 'POST', '/v1/search', { query: 'Document 3 of prior about topic 3.', k: 1 });
    assert.equal(retried.status, 200);
    assert.equal(retried.body.results[0].id, 'prior-3');
    proxy.inject(EMBEDDINGS, { kind: 'rewrite', rewrite: shrinkAll }, Infinity);
    const refused = await call(base, 'POST', '/v1/search', { query: 'Document 3', k: 1 });
    assert.equal(refused.status, 502);
    assert.match(refused.body.detail, /512 dimensions, not 1024/);
  });

  it('on one bad batch among three, retried: the whole request stored', async () => {
    proxy.inject(EMBEDDINGS, { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(10, '1e400') });
    proxy.inject(EMBEDDINGS, { kind: 'reset-after-headers' });
    const response = await call(base, 'POST', '/v1/documents', ingestBody('retried'));
    assert.equal(response.status, 201);
    held = sorted([...held, ...idsOf('retried')]);
    assert.deepEqual(await storedIds(base), held);
  });

  it('refuses writes while the disk is full (507) or failing (503), stores nothing of them, and takes them again once it recovers, across a restart', async () => {
    const fail = (code: string) => {
      diskFaults.check = (operation) => {
        if (operation === 'write') throw Object.assign(new Error(`${code}: injected`), { code });
      };
    };
    const healthy = diskFaults.check;
    try {
      fail('ENOSPC');
      const full = await call(base, 'POST', '/v1/documents', ingestBody('disk', 5));
      assert.equal(full.status, 507);
      assert.match(full.body.detail, /disk under DATA_DIR is full \(ENOSPC\); nothing of this request was stored/);
      const deletion = await call(base, 'DELETE', `/v1/documents/${held[0]}`);
      assert.equal(deletion.status, 507);
      fail('EIO');
      const failing = await call(base, 'POST', '/v1/documents', ingestBody('disk', 5));
      assert.equal(failing.status, 503);
      assert.equal(failing.headers.get('retry-after'), '5');
      assert.deepEqual(await storedIds(base), held);
    } finally {
      diskFaults.check = healthy;
    }
    assert.equal((await call(base, 'POST', '/v1/documents', ingestBody('disk', 5))).status, 201);
    held = sorted([...held, ...idsOf('disk', 5)]);
    await test.stop();
    test = await startTestApp({ NIM_EMBEDDINGS_URL: proxy.url, LLM_PROVIDER: 'local', NIM_MAX_RETRIES: '1', NIM_TIMEOUT_MS: '1000' }, test.dataDir);
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    assert.deepEqual(await storedIds(base), held);
  });
});

describe('kill -9 right after NIM faults: the store always restarts, holding whole requests only', imageNodeLane, () => {
  let nim: NimEmulator;
  let proxy: FaultyNim;
  let dataDir: string;
  let server: ChildServer | undefined;

  const start = async () => {
    server = await startServer(dataDir, await unusedPort(), {
      EMBEDDINGS_PROVIDER: 'nim',
      NIM_EMBEDDINGS_URL: proxy.url,
      NIM_MAX_RETRIES: '1',
      NIM_TIMEOUT_MS: '1000',
    });
    return server.base;
  };

  before(async () => {
    nim = await NimEmulator.start({ models: [EMBED_MODEL] });
    proxy = await FaultyNim.start(nim.origin);
    dataDir = await temporaryDir('ingest-kill-');
  });
  afterEach(() => proxy.clear());
  after(async () => {
    killAll();
    await proxy.stop();
    await nim.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a bad vector in the first ingest of a fresh store; then NaN, and a reset mid-ingest: every restart is clean', { timeout: 120_000 }, async () => {
    let base = await start();
    proxy.inject(EMBEDDINGS, { kind: 'rewrite', rewrite: embeddingRewrites.wrongDimension(25, 512) }, Infinity);
    assert.equal((await call(base, 'POST', '/v1/documents', ingestBody('first'))).status, 502);
    await kill(server as ChildServer);

    proxy.clear();
    base = await start();
    const ready = await call(base, 'GET', '/v1/health/ready');
    assert.equal(ready.body.store.dimensions, null, 'the bad vector fixed no dimensions');
    assert.deepEqual(await storedIds(base), []);
    assert.equal((await call(base, 'POST', '/v1/documents', ingestBody('good'))).status, 201);
    proxy.inject(EMBEDDINGS, { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(7, 'NaN') }, Infinity);
    assert.equal((await call(base, 'POST', '/v1/documents', ingestBody('nan'))).status, 502);
    proxy.clear();
    proxy.inject(EMBEDDINGS, { kind: 'reset-after-headers' });
    assert.equal((await call(base, 'POST', '/v1/documents', ingestBody('reset'))).status, 201);
    await kill(server as ChildServer);

    base = await start();
    assert.deepEqual(await storedIds(base), sorted([...idsOf('good'), ...idsOf('reset')]));
    const search = await call(base, 'POST', '/v1/search', { query: 'Document 3 of reset about topic 3.', k: 1 });
    assert.equal(search.status, 200, 'searching works: no bad vector got in');
    assert.equal(search.body.results[0].id, 'reset-3');
    await kill(server as ChildServer);
  });
});
