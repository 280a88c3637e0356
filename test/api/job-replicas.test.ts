import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type ChildServer, kill, killAll, startServer } from '../support/child-server.js';
import { imageNodeLane } from '../support/lanes.js';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { startPgliteServer, type PgliteServer } from '../support/pglite-server.js';
import { readEvents } from '../support/sse.js';
import { temporaryDir, unusedPort } from '../support/test-app.js';

/**
 * Jobs in the database, with two real service processes on one Postgres + pgvector (PGlite over
 * the wire protocol): whichever replica a job was submitted to, the other reads it, follows it
 * and cancels it, and when the replica running a job is killed -9 the other resumes it once its
 * lease (short here) has expired, storing no file twice and losing none.
 */

const FILES = 8;
const LEASE_MS = 1500;
const topic = (file: number) => `topic${file}x`;
const fileText = (file: number) =>
  Array.from({ length: 12 }, (_, line) => `Entry ${line} of ${topic(file)}: a paragraph long enough to be a chunk here.`).join('\n\n');
const fileOf = (text: string) => Number(/topic(\d+)x/.exec(text)?.[1]);

async function call(base: string, method: string, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, { method });
  return { status: response.status, body: await response.json() };
}

async function until<T>(what: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await what();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting; last: ${JSON.stringify(value)}`);
    await sleep(20);
  }
}

describe('jobs across replicas: two service processes on one pgvector database', imageNodeLane, () => {
  let database: PgliteServer;
  let databaseDir: string;
  let nim: NimEmulator;
  let replicas: ChildServer[];
  let env: Record<string, string>;

  before(async () => {
    databaseDir = await temporaryDir('job-replicas-db-');
    // Embedding one request at a time, slowly: a job of a few files runs for a couple of seconds.
    [database, nim] = await Promise.all([startPgliteServer({ dataDir: databaseDir }), NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 40, maxConcurrentEmbeddings: 1 })]);
    env = {
      VECTOR_STORE: 'pgvector',
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: '4',
      EMBEDDINGS_PROVIDER: 'nim',
      NIM_EMBEDDINGS_URL: nim.url,
      EMBEDDINGS_BATCH_SIZE: '4',
      EMBEDDINGS_MAX_CONCURRENCY: '1',
      CHUNK_SIZE: '120',
      CHUNK_OVERLAP: '0',
      JOB_LEASE_MS: String(LEASE_MS),
      JOB_POLL_INTERVAL_MS: '100',
    };
    replicas = await Promise.all([startServer(undefined, await unusedPort(), env), startServer(undefined, await unusedPort(), env)]);
  });
  after(async () => {
    killAll();
    await nim?.stop();
    await database?.stop();
    await rm(databaseDir, { recursive: true, force: true });
  });

  /** Uploads FILES files as a job into `collection` through `replica`; its id, and the replica that claimed it. */
  async function submit(replica: ChildServer, collection: string): Promise<{ id: string; owner: ChildServer; other: ChildServer }> {
    const form = new FormData();
    for (let file = 0; file < FILES; file++) form.append('file', new Blob([fileText(file)]), `notes-${file}.txt`);
    const response = await fetch(`${replica.base}/v1/files?async=true&collection=${collection}`, { method: 'POST', body: form });
    assert.equal(response.status, 202);
    const id = ((await response.json()) as { id: string }).id;
    const client = new pg.Client(database.url);
    await client.connect();
    try {
      // In a transaction, as the service's own statements are: PGlite keeps a transaction's messages together.
      const leaseOwner = async () => {
        await client.query('BEGIN');
        try {
          return (await client.query<{ lease_owner: string | null }>('SELECT lease_owner FROM rag_jobs WHERE id = $1', [id])).rows[0]?.lease_owner;
        } finally {
          await client.query('COMMIT');
        }
      };
      const owner = await until(leaseOwner, (value) => typeof value === 'string');
      const running = replicas.find((candidate) => owner?.endsWith(`pid ${candidate.process.pid}`)) as ChildServer;
      assert.ok(running, `claimed by a replica: ${owner}`);
      return { id, owner: running, other: replicas.find((candidate) => candidate !== running) as ChildServer };
    } finally {
      await client.end();
    }
  }

  /** The collection's documents, by file: sections and chunks stored. */
  async function storedByFile(base: string, collection: string): Promise<Map<string, { sections: number; chunks: number }>> {
    const listed = (await call(base, 'GET', `/v1/documents?collection=${collection}&limit=1000`)).body.documents as Array<{ id: string; chunks: number }>;
    const files = new Map<string, { sections: number; chunks: number }>();
    for (const document of listed) {
      const file = document.id.split('#')[0] as string;
      const entry = files.get(file) ?? { sections: 0, chunks: 0 };
      files.set(file, { sections: entry.sections + 1, chunks: entry.chunks + document.chunks });
    }
    return files;
  }

  it('a job submitted through one replica is read, followed and cancelled through the other, which does not run it', { timeout: 90_000 }, async () => {
    const { id, other } = await submit(replicas[0] as ChildServer, 'followed');
    const read = await call(other.base, 'GET', `/v1/jobs/${id}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.id, id);
    const followed = fetch(`${other.base}/v1/jobs/${id}/events`).then(readEvents);

    await until(() => call(other.base, 'GET', `/v1/jobs/${id}`), (job) => job.body.counts.files_done >= 1);
    const cancel = await call(other.base, 'DELETE', `/v1/jobs/${id}`);
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    const cancelled = cancel.body;
    assert.equal(cancelled.state, 'cancelled');
    assert.ok(cancelled.counts.files_done >= 1 && cancelled.counts.files_done < FILES, `files done: ${cancelled.counts.files_done}`);
    const done = cancelled.files.filter((file: any) => file.state === 'done');
    assert.ok(cancelled.files.every((file: any) => file.state === 'done' || file.state === 'pending'), 'no file was left half-stored');
    assert.equal(cancelled.counts.chunks_done, done.reduce((sum: number, file: any) => sum + file.chunks, 0), 'the final counts');

    const events = await followed;
    assert.ok(events.filter((event) => event.event === 'progress').length >= 2, `progress events through the other replica: ${events.length}`);
    assert.equal(events.at(-1)?.event, 'done');
    assert.equal(events.at(-1)?.data.state, 'cancelled');
    assert.deepEqual(events.at(-1)?.data.counts, cancelled.counts);

    const stored = await storedByFile(other.base, 'followed');
    assert.deepEqual([...stored.keys()].sort(), done.map((file: any) => file.id).sort(), 'exactly the files done are stored');
    for (const file of done) assert.deepEqual(stored.get(file.id), { sections: file.sections, chunks: file.chunks }, `${file.id} is whole`);
    await sleep(300);
    assert.deepEqual((await call(replicas[0]!.base, 'GET', `/v1/jobs/${id}`)).body.counts, cancelled.counts, 'nothing more was stored after the cancel');
  });

  it('the replica running a job is killed -9; the other resumes it once its lease expires, storing no file twice and losing none', { timeout: 90_000 }, async () => {
    const { id, owner, other } = await submit(replicas[0] as ChildServer, 'resumed');
    const atKill = await until(() => call(other.base, 'GET', `/v1/jobs/${id}`), (job) => job.body.counts.files_done >= 2);
    await kill(owner);
    const killedAt = Date.now();
    const requestsAtKill = nim.requestsTo('/v1/embeddings').length;
    assert.ok(atKill.body.counts.files_done < FILES, 'the kill came before the end');

    const finished = await until(() => call(other.base, 'GET', `/v1/jobs/${id}`), (job) => job.body.state !== 'running' && job.body.state !== 'queued');
    assert.equal(finished.body.state, 'completed', JSON.stringify(finished.body));
    assert.ok(Date.now() - killedAt >= LEASE_MS / 2, 'resumed only once the lease could have run out');
    const job = finished.body;
    assert.equal(job.counts.files_done, FILES);
    assert.equal(job.counts.chunks_done, job.counts.chunks);

    // None lost, none twice: every file's sections stored, each once, and the collection holds exactly their chunks.
    const stored = await storedByFile(other.base, 'resumed');
    assert.equal(stored.size, FILES);
    for (const file of job.files) assert.deepEqual(stored.get(file.id), { sections: file.sections, chunks: file.chunks }, `${file.id} is whole`);
    const collection = (await call(other.base, 'GET', '/v1/collections')).body.collections.find((candidate: any) => candidate.name === 'resumed');
    assert.equal(collection.chunks, job.counts.chunks);

    // What was done before the kill was not embedded again by the replica that resumed it.
    const doneAtKill = new Set<number>(atKill.body.files.filter((file: any) => file.state === 'done').map((file: any) => Number(/notes-(\d+)/.exec(file.name)?.[1])));
    const afterKill = nim
      .requestsTo('/v1/embeddings')
      .slice(requestsAtKill)
      .flatMap((request) => request.body.input as string[]);
    assert.ok(afterKill.length > 0, 'the other replica did the rest');
    assert.deepEqual(afterKill.filter((text) => doneAtKill.has(fileOf(text))), [], 'texts of files stored before the kill are not embedded again');
    replicas[replicas.indexOf(owner)] = await startServer(undefined, await unusedPort(), env);
  });

  it('a replica stopped with SIGTERM gives up the lease of its job at once, and the other finishes it', { timeout: 90_000 }, async () => {
    const { id, owner, other } = await submit(replicas[0] as ChildServer, 'handed-over');
    await until(() => call(other.base, 'GET', `/v1/jobs/${id}`), (job) => job.body.counts.files_done >= 1);
    const exited = once(owner.process, 'exit');
    owner.process.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null], 'a clean exit');
    const client = new pg.Client(database.url);
    await client.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ lease_owner: string | null; state: string }>('SELECT lease_owner, state FROM rag_jobs WHERE id = $1', [id]);
      await client.query('COMMIT');
      // Not waiting out the lease: free, or already taken by the other replica.
      assert.ok(rows[0]?.lease_owner === null || rows[0]?.lease_owner.endsWith(`pid ${other.process.pid}`) || rows[0]?.state === 'completed', JSON.stringify(rows[0]));
    } finally {
      await client.end();
    }
    const finished = await until(() => call(other.base, 'GET', `/v1/jobs/${id}`), (job) => job.body.state !== 'running' && job.body.state !== 'queued');
    assert.equal(finished.body.state, 'completed');
    assert.equal(finished.body.counts.files_done, FILES);
  });
});
