import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { makeScannedPdf } from '../support/documents.js';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { serviceBackends } from '../support/service-backends.js';
import { readEvents } from '../support/sse.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const paragraphs = (topic: string, count: number) =>
  Array.from({ length: count }, (_, index) => `Paragraph ${index} about ${topic}: the ${topic} ledger entry number ${index} is filed here.`).join('\n\n');

async function upload(base: string, files: Array<{ name: string; content: Uint8Array | string }>, query = '') {
  const form = new FormData();
  for (const file of files) form.append('file', new Blob([file.content]), file.name);
  const response = await fetch(`${base}/v1/files${query}`, { method: 'POST', body: form });
  return { status: response.status, location: response.headers.get('location'), body: (await response.json()) as any };
}

async function postJson(base: string, path: string, body: unknown) {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, location: response.headers.get('location'), body: (await response.json()) as any };
}

async function job(base: string, id: string) {
  return (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as any;
}

async function until<T>(what: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await what();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting; last: ${JSON.stringify(value)}`);
    await sleep(20);
  }
}

for (const backend of serviceBackends()) describe(`background ingest jobs (${backend.name} store)`, () => {
  let nim: NimEmulator;
  let test: TestApp;
  let base: string;

  before(async () => {
    nim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 30 });
    test = await startTestApp({
      ...(await backend.prepare()),
      JOB_POLL_INTERVAL_MS: '50',
      NIM_EMBEDDINGS_URL: nim.url,
      LLM_PROVIDER: 'local',
      EMBEDDINGS_BATCH_SIZE: '4',
      EMBEDDINGS_MAX_CONCURRENCY: '2',
      CHUNK_SIZE: '200',
      CHUNK_OVERLAP: '0',
      INGEST_ASYNC_THRESHOLD_BYTES: '20000',
    });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await test.close();
    await nim.stop();
  });

  it('?async=true answers 202 with Location; the event stream reports progress and ends with the finished job', async () => {
    const reply = await upload(
      base,
      [
        { name: 'alpha.md', content: `# Alpha\n\n${paragraphs('alpha', 6)}` },
        { name: 'scan.pdf', content: await makeScannedPdf(1) },
        { name: 'beta.txt', content: paragraphs('beta', 6) },
      ],
      '?async=true',
    );
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    assert.equal(reply.location, `/v1/jobs/${reply.body.id}`);
    assert.ok(['queued', 'running'].includes(reply.body.state));

    const events = await readEvents(await fetch(`${base}${reply.location}/events`));
    const last = events.at(-1);
    assert.equal(last?.event, 'done');
    assert.ok(events.slice(0, -1).every((event) => event.event === 'progress'));
    assert.ok(events.length >= 3, `progress events: ${events.length}`);
    const finished = last?.data;
    assert.equal(finished.state, 'completed');
    assert.deepEqual(
      [finished.counts.files, finished.counts.files_done, finished.counts.files_failed],
      [3, 2, 1],
    );
    assert.equal(finished.counts.chunks_done, finished.counts.chunks);
    assert.equal(finished.counts.embedded, finished.counts.chunks);
    const scan = finished.files.find((file: any) => file.name === 'scan.pdf');
    assert.deepEqual([scan.state, scan.error.status], ['failed', 422]);
    assert.match(scan.error.reason, /text layer/);
    assert.deepEqual(await job(base, reply.body.id), { ...finished, timings: (await job(base, reply.body.id)).timings });

    const search = await fetch(`${base}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'beta ledger entry number 4' }) });
    const hits = ((await search.json()) as any).results;
    assert.equal(hits[0].metadata.source, 'beta.txt');
  });

  it('an upload over INGEST_ASYNC_THRESHOLD_BYTES becomes a job without asking', async () => {
    const reply = await upload(base, [{ name: 'big.txt', content: paragraphs('gamma', 300) }]);
    assert.equal(reply.status, 202);
    const finished = await until(() => job(base, reply.body.id), (view) => view.state === 'completed');
    assert.equal(finished.files[0].status, 'created');
    assert.ok(finished.counts.chunks > 100);
  });

  it('DELETE cancels a running job: files stored stay whole, the rest are not ingested; a finished job cannot be cancelled', async () => {
    const files = Array.from({ length: 12 }, (_, index) => ({ name: `part-${index}.txt`, content: paragraphs(`delta${index}`, 12) }));
    const reply = await upload(base, files, '?async=true');
    const id = reply.body.id as string;
    await until(() => job(base, id), (view) => view.counts.files_done >= 1);
    const cancel = await fetch(`${base}/v1/jobs/${id}`, { method: 'DELETE' });
    assert.equal(cancel.status, 200);
    const cancelled = (await cancel.json()) as any;
    assert.equal(cancelled.state, 'cancelled');
    assert.ok(cancelled.counts.files_done < 12);
    assert.equal(cancelled.counts.chunks_done, cancelled.files.filter((file: any) => file.state === 'done').reduce((sum: number, file: any) => sum + file.chunks, 0));
    await sleep(300);
    const later = await job(base, id);
    assert.equal(later.state, 'cancelled');
    assert.equal(later.counts.files_done, cancelled.counts.files_done);
    const stored = ((await (await fetch(`${base}/v1/documents?limit=1000`)).json()) as any).documents.map((document: any) => document.id as string);
    const storedFiles = new Set(stored.filter((documentId: string) => documentId.startsWith('part-')).map((documentId: string) => documentId.split('#')[0]));
    assert.equal(storedFiles.size, later.counts.files_done);

    const again = await fetch(`${base}/v1/jobs/${id}`, { method: 'DELETE' });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as any).detail, /already been cancelled/);
  });

  it('POST /v1/documents?async=true answers 202 with a documents job that stores them, ids kept or given by position', async () => {
    const documents = [
      { id: 'epsilon-a', text: paragraphs('epsilon', 8), metadata: { part: 'a' } },
      { text: paragraphs('zeta', 8) },
    ];
    const response = await postJson(base, '/v1/documents?async=true', { documents, collection: 'jobdocs' });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const id = response.body.id as string;
    assert.equal(response.location, `/v1/jobs/${id}`);
    assert.deepEqual([response.body.kind, response.body.files, response.body.documents.total], ['documents', [], 2]);

    const events = await readEvents(await fetch(`${base}/v1/jobs/${id}/events`));
    const finished = events.at(-1)?.data;
    assert.equal(events.at(-1)?.event, 'done');
    assert.equal(finished.state, 'completed');
    assert.deepEqual(finished.documents, { total: 2, done: 2, failed: 0, created: 2, updated: 0, unchanged: 0, errors: [] });
    assert.ok(finished.counts.chunks > 2, `chunks: ${finished.counts.chunks}`);
    assert.deepEqual([finished.counts.chunks_done, finished.counts.embedded, finished.counts.files], [finished.counts.chunks, finished.counts.chunks, 0]);

    const stored = await (await fetch(`${base}/v1/documents/${id}-1?collection=jobdocs`)).json() as any;
    assert.equal(stored.text, documents[1]?.text);
    const kept = await (await fetch(`${base}/v1/documents/epsilon-a?collection=jobdocs`)).json() as any;
    assert.deepEqual(kept.metadata, { part: 'a' });
  });

  it('a documents body over INGEST_ASYNC_THRESHOLD_BYTES becomes a job without asking; under it, stored at once', async () => {
    const small = await postJson(base, '/v1/documents', { documents: [{ id: 'eta-small', text: paragraphs('eta', 2) }] });
    assert.equal(small.status, 201);
    const big = await postJson(base, '/v1/documents', { documents: [{ id: 'eta-big', text: paragraphs('eta', 300) }] });
    assert.equal(big.status, 202);
    const finished = await until(() => job(base, big.body.id), (view) => view.state === 'completed');
    assert.equal(finished.documents.created, 1);
    assert.ok(finished.counts.chunks > 100);
  });

  it('a bad documents request is refused before any job; a batch the model refuses is reported with its ids', async () => {
    const twice = await postJson(base, '/v1/documents?async=true', { documents: [{ id: 'same', text: 'one' }, { id: 'same', text: 'two' }] });
    assert.equal(twice.status, 400);
    assert.match(twice.body.detail, /"same" appears more than once/);
    const overlap = await postJson(base, '/v1/documents?async=true', { documents: [{ text: 'one' }], chunking: { size: 100, overlap: 80 } });
    assert.equal(overlap.status, 400);
    assert.match(overlap.body.detail, /at most half/);

    // Stored whole, 600 words are more than the emulated model's 512 tokens.
    const response = await postJson(base, '/v1/documents?async=true', {
      documents: [{ id: 'theta-long', text: Array.from({ length: 600 }, (_, n) => `word${n}`).join(' ') }],
      chunking: false,
    });
    assert.equal(response.status, 202);
    const finished = await until(() => job(base, response.body.id), (view) => view.state !== 'queued' && view.state !== 'running');
    assert.equal(finished.state, 'failed');
    assert.deepEqual([finished.documents.done, finished.documents.failed], [0, 1]);
    assert.deepEqual(finished.documents.errors.map((error: any) => [error.ids, error.status]), [[['theta-long'], 422]]);
    assert.match(finished.documents.errors[0].reason, /longer than embedding model/);
    assert.equal((await fetch(`${base}/v1/documents/theta-long`)).status, 404);
  });

  it('an unknown job is a 404, a malformed id a 400', async () => {
    const missing = await fetch(`${base}/v1/jobs/00000000-0000-4000-8000-000000000000`);
    assert.equal(missing.status, 404);
    const events = await fetch(`${base}/v1/jobs/00000000-0000-4000-8000-000000000000/events`);
    assert.equal(events.status, 404);
    assert.equal((await fetch(`${base}/v1/jobs/not-a-job`)).status, 400);
  });
});
