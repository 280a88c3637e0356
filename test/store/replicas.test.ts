import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startPgliteServer, type PgliteServer } from '../support/pglite-server.js';
import { type ChildServer, kill, killAll, startServer } from '../support/child-server.js';
import { temporaryDir, unusedPort } from '../support/test-app.js';
import { imageNodeLane } from '../support/lanes.js';

/**
 * Stateless replicas: two real service processes on one Postgres + pgvector database (PGlite
 * over the wire protocol, in its own process) behave as one service, through a kill -9 of one
 * of them and a restart of the database under live traffic.
 */

const CHUNKING = { size: 60, overlap: 0 };

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

const ingest = (base: string, documents: Array<{ id: string; text: string; metadata?: Record<string, unknown> }>) =>
  call(base, 'POST', '/v1/documents', { documents: documents.map(({ id, text, metadata }) => ({ id, text, metadata })), chunking: CHUNKING });
const search = (base: string, query: string, k = 3) => call(base, 'POST', '/v1/search', { query, k });

let counter = 0;
const word = () => Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
function newDocument(): { id: string; text: string; token: string } {
  counter += 1;
  const token = word();
  return { id: `doc-${counter}`, text: `Paragraph one of document ${counter}: ${token}.\n\nParagraph two: ${word()} ${word()}.`, token };
}

describe('replicas: two service processes on one pgvector database', imageNodeLane, () => {
  let database: PgliteServer;
  let databaseDir: string;
  let a: ChildServer;
  let b: ChildServer;
  const env = () => ({ VECTOR_STORE: 'pgvector', DATABASE_URL: database.url, DATABASE_POOL_SIZE: '4' });

  before(async () => {
    databaseDir = await temporaryDir('replicas-db-');
    database = await startPgliteServer({ dataDir: databaseDir });
    [a, b] = await Promise.all([startServer(undefined, await unusedPort(), env()), startServer(undefined, await unusedPort(), env())]);
  });
  after(async () => {
    killAll();
    await database?.stop();
    await rm(databaseDir, { recursive: true, force: true });
  });

  it('finds through B what was ingested through A at once, and a delete through B is gone through A', async () => {
    const document = newDocument();
    assert.equal((await ingest(a.base, [document])).status, 201);
    const found = await search(b.base, document.token, 1);
    assert.equal(found.body.results[0]?.id, document.id);
    assert.equal((await call(b.base, 'GET', `/v1/documents/${document.id}`)).body.text, document.text);
    assert.equal((await call(b.base, 'DELETE', `/v1/documents/${document.id}`)).status, 204);
    assert.equal((await call(a.base, 'GET', `/v1/documents/${document.id}`)).status, 404);
    assert.notEqual((await search(a.base, document.token, 1)).body.results[0]?.id, document.id);
  });

  it('ends a race of one id upserted through both as one version, with no stray chunks', async () => {
    for (let round = 0; round < 3; round++) {
      const versions = [a, b].map((replica, index) => ({
        replica,
        text: Array.from({ length: 2 + index + round }, (_, n) => `Version ${index} round ${round} part ${n}: ${word()}.`).join('\n\n'),
      }));
      const results = await Promise.all(versions.map(({ replica, text }) => ingest(replica.base, [{ id: 'contested', text, metadata: { round } }])));
      assert.ok(results.every((result) => [200, 201].includes(result.status)), JSON.stringify(results.map((result) => result.body)));
      const stored = (await call(a.base, 'GET', '/v1/documents/contested')).body;
      assert.ok(versions.some((version) => version.text === stored.text), 'the stored text is one of the versions whole');
      assert.deepEqual((await call(b.base, 'GET', '/v1/documents/contested')).body, stored, 'both replicas read the same version');
      const collections = (await call(b.base, 'GET', '/v1/collections')).body.collections;
      const documents = (await call(b.base, 'GET', '/v1/documents?limit=1000')).body.documents as Array<{ chunks: number }>;
      const chunks = documents.reduce((sum, document) => sum + document.chunks, 0);
      assert.equal(collections[0].chunks, chunks, `round ${round}: the chunk rows are exactly the stored documents' chunks`);
    }
  });

  it('loses no acknowledged document when A is killed -9 mid-ingest, while B keeps serving', { timeout: 120_000 }, async () => {
    const acknowledged = new Map<string, { text: string; token: string }>();
    const bFailures: string[] = [];
    let stop = false;
    let bServed = 0;
    const writer = async () => {
      while (!stop) {
        const documents = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, newDocument);
        const response = await ingest(a.base, documents).catch(() => undefined);
        if (!response) return;
        assert.equal(response.status, 201, JSON.stringify(response.body));
        for (const document of documents) acknowledged.set(document.id, document);
      }
    };
    const reader = async () => {
      while (!stop) {
        const response = await search(b.base, word()).catch((error: unknown) => ({ status: 0, body: String(error) }));
        if (response.status === 200) bServed += 1;
        else bFailures.push(`${response.status} ${JSON.stringify(response.body)}`);
      }
    };
    const writers = [writer(), writer(), writer()];
    const readers = reader();
    while (acknowledged.size < 8) await sleep(50);
    await kill(a);
    await Promise.all(writers);
    const servedAtKill = bServed;
    await sleep(500);
    stop = true;
    await readers;
    assert.deepEqual(bFailures, [], 'B answered every search');
    assert.ok(bServed > servedAtKill, 'B went on serving after A died');
    for (const [id, document] of acknowledged) {
      const view = await call(b.base, 'GET', `/v1/documents/${id}`);
      assert.equal(view.status, 200, `acknowledged ${id} is missing`);
      assert.equal(view.body.text, document.text);
      assert.equal(view.body.chunks.length, 2, `${id} is whole`);
    }
    for (const [id, document] of [...acknowledged].slice(-5)) assert.equal((await search(b.base, document.token, 1)).body.results[0]?.id, id);
    a = await startServer(undefined, await unusedPort(), env());
  });

  it('answers 503 with Retry-After while the database is down, never a 500, and recovers by itself', { timeout: 180_000 }, async () => {
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    const acknowledged: Array<{ id: string; text: string }> = [];
    let stop = false;
    const traffic = async (replica: ChildServer) => {
      while (!stop) {
        const document = newDocument();
        const written = await ingest(replica.base, [document]);
        const read = await search(replica.base, document.token, 1);
        for (const response of [written, read]) {
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status === 503) {
            if (!response.headers.get('content-type')?.startsWith('application/problem+json') || !response.headers.get('retry-after')) {
              bad.push(`503 without problem+json and Retry-After: ${JSON.stringify(response.body)}`);
            }
          } else if (![200, 201].includes(response.status)) bad.push(`${response.status} ${JSON.stringify(response.body)}`);
        }
        if (written.status === 201) acknowledged.push(document);
        await sleep(20);
      }
    };
    const running = [traffic(a), traffic(b)];
    await sleep(500);
    await database.stop();
    // Until b has seen the outage (no fixed wait: the writes go on meanwhile either way).
    let readiness = await call(b.base, 'GET', '/v1/health/ready');
    for (const outage = Date.now() + 30_000; readiness.status !== 503 && Date.now() < outage; readiness = await call(b.base, 'GET', '/v1/health/ready')) await sleep(50);
    assert.equal(readiness.status, 503);
    assert.equal(readiness.body.store.ready, false);
    assert.match(readiness.body.store.detail, /unreachable/);
    database = await startPgliteServer({ dataDir: databaseDir, port: database.port });
    const deadline = Date.now() + 30_000;
    while ((await call(a.base, 'GET', '/v1/health/ready')).status !== 200 && Date.now() < deadline) await sleep(200);
    const recovered = acknowledged.length;
    while (acknowledged.length < recovered + 4 && Date.now() < deadline) await sleep(100);
    stop = true;
    await Promise.all(running);
    assert.deepEqual(bad, [], 'only successes and 503 problems');
    assert.ok((statuses.get(503) ?? 0) > 0, 'requests met the outage');
    assert.ok(acknowledged.length >= recovered + 4, 'writes succeed again after the database returns');
    for (const document of acknowledged) {
      assert.equal((await call(a.base, 'GET', `/v1/documents/${document.id}`)).body.text, document.text, `acknowledged ${document.id} survived`);
    }
  });
});

describe('database down at start', imageNodeLane, () => {
  it('starts, says why it is not ready, answers 503, and connects once the database comes', { timeout: 120_000 }, async () => {
    const port = await unusedPort();
    const service = await startServer(undefined, await unusedPort(), {
      VECTOR_STORE: 'pgvector',
      DATABASE_URL: `postgres://postgres:secret-password@127.0.0.1:${port}/postgres`,
    });
    let database: PgliteServer | undefined;
    try {
      const readiness = await call(service.base, 'GET', '/v1/health/ready');
      assert.equal(readiness.status, 503);
      assert.equal(readiness.body.store.backend, 'pgvector');
      assert.match(readiness.body.store.detail, new RegExp(`vector database at 127\\.0\\.0\\.1:${port}/postgres is unreachable: .*ECONNREFUSED`));
      assert.ok(!JSON.stringify(readiness.body).includes('secret-password'), 'the password is not shown');
      const refused = await search(service.base, 'anything');
      assert.equal(refused.status, 503);
      assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      assert.ok(!service.output.join('').includes('secret-password'), 'the log does not show the password');
      database = await startPgliteServer({ port });
      const deadline = Date.now() + 30_000;
      let ready = await call(service.base, 'GET', '/v1/health/ready');
      while (ready.status !== 200 && Date.now() < deadline) {
        await sleep(200);
        ready = await call(service.base, 'GET', '/v1/health/ready');
      }
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      assert.equal((await ingest(service.base, [{ id: 'late', text: 'written once the database came' }])).status, 201);
    } finally {
      await kill(service);
      await database?.stop();
    }
  });
});
