import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { JobRecord } from '../../src/services/job-record.js';
import { PostgresJobRepository } from '../../src/services/postgres-job-repository.js';
import { startPgliteServer, type PgliteServer } from '../support/pglite-server.js';
import { silentLogger } from '../support/test-app.js';

const documentsJob = (): JobRecord => ({
  id: randomUUID(),
  state: 'queued',
  collection: 'default',
  metadata: {},
  created_at: new Date().toISOString(),
  files: [],
  documents: { total: 1, chunks_done: 0, batches_done: 0, done: 0, failed: 0, created: 0, updated: 0, unchanged: 0, embedded: 0, reused: 0, errors: [] },
});

/**
 * The Postgres job repository's claims and leases, in one process against PGlite: what a replica
 * that lost its lease may still do (nothing), and what a cancel does with a job no replica holds.
 */
describe('jobs in Postgres: claims and leases', () => {
  let database: PgliteServer;
  let repository: PostgresJobRepository;
  /** The lease of `id` as if it had run out (its replica stopped renewing it). */
  let expire: (id: string) => Promise<void>;

  before(async () => {
    database = await startPgliteServer();
    // A lease far longer than the test, renewed rarely: only `expire` ends one.
    repository = await PostgresJobRepository.open({ url: database.url, statementTimeoutMs: 30_000, leaseMs: 600_000, pollIntervalMs: 60_000, logger: silentLogger });
    expire = async (id) => {
      const client = new pg.Client(database.url);
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query("UPDATE rag_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [id]);
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
    };
  });
  after(async () => {
    await repository?.close();
    await database?.stop();
  });

  it('a claim whose lease ran out and was taken over writes nothing more: its saves and its finish are refused', async () => {
    const job = documentsJob();
    await repository.create(job, { kind: 'documents', documents: [{ id: 'a', text: 'alpha', metadata: {} }] });
    const first = await repository.claim();
    assert.ok(first);
    assert.equal(first.job.id, job.id);
    assert.equal(await repository.claim(), undefined, 'a held job is not claimed twice');
    await expire(job.id);
    const second = await repository.claim();
    assert.ok(second);
    assert.equal(second.job.id, job.id, 'taken over once the lease ran out');
    assert.deepEqual(await second.documents(), [{ id: 'a', text: 'alpha', metadata: {} }], 'with its payload');

    first.job.state = 'running';
    if (first.job.documents) first.job.documents.done = 99;
    await assert.rejects(first.save(), /its lease ran out/);
    assert.equal(first.lost.aborted, true);
    await assert.rejects(first.finish(), /its lease ran out/);
    assert.equal((await repository.get(job.id))?.documents?.done, 0, 'the old owner wrote nothing');

    second.job.state = 'completed';
    second.job.finished_at = new Date().toISOString();
    await second.finish();
    assert.equal((await repository.get(job.id))?.state, 'completed');
  });

  it("keeps the name of the key that submitted a job through its claim, saves and finish", async () => {
    const job = { ...documentsJob(), owner: 'app-b' };
    await repository.create(job, { kind: 'documents', documents: [{ id: 'd', text: 'text', metadata: {} }] });
    assert.equal((await repository.get(job.id))?.owner, 'app-b');
    const claim = await repository.claim();
    assert.ok(claim);
    assert.equal(claim.job.owner, 'app-b');
    claim.job.state = 'completed';
    await claim.finish();
    assert.equal((await repository.get(job.id))?.owner, 'app-b');
  });

  it('a job claimed five times without finishing fails instead of being tried again', async () => {
    const job = documentsJob();
    await repository.create(job, { kind: 'documents', documents: [{ id: 'b', text: 'bravo', metadata: {} }] });
    for (let attempt = 1; attempt <= 5; attempt++) {
      assert.equal((await repository.claim())?.job.id, job.id, `claim ${attempt}`);
      await expire(job.id);
    }
    assert.equal(await repository.claim(), undefined);
    const failed = await repository.get(job.id);
    assert.equal(failed?.state, 'failed');
    assert.match(failed?.error?.reason ?? '', /started 5 times and never finished/);
  });

  it('a cancel: held job flagged for its owner; unheld job cancelled at once, unless it stopped with a file half-stored', async () => {
    const held = documentsJob();
    await repository.create(held, { kind: 'documents', documents: [{ id: 'c', text: 'charlie', metadata: {} }] });
    const claim = await repository.claim();
    assert.ok(claim);
    assert.equal((await repository.cancel(held.id))?.outcome, 'requested');
    await claim.save();
    assert.equal(claim.cancelRequested, true, 'the owner sees it at its next save');

    const queued = documentsJob();
    await repository.create(queued, { kind: 'documents', documents: [{ id: 'd', text: 'delta', metadata: {} }] });
    const cancelled = await repository.cancel(queued.id);
    assert.deepEqual([cancelled?.outcome, cancelled?.job.state], ['cancelled', 'cancelled']);
    assert.equal((await repository.cancel(queued.id))?.outcome, 'finished');

    // A files job whose replica died while storing a file: the next claimer finishes that file first.
    const halfStored: JobRecord = { ...documentsJob(), documents: undefined, files: [{ name: 'a.txt', id: 'a.txt', type: 'text', path: '0', bytes: 0, sha256: '', state: 'running', chunks_done: 1, batches_done: 1, embedded: 1, reused: 0 }] };
    await repository.create(halfStored, { kind: 'documents', documents: [] });
    const dead = await repository.claim();
    assert.equal(dead?.job.id, halfStored.id);
    await expire(halfStored.id);
    assert.equal((await repository.cancel(halfStored.id))?.outcome, 'requested');
    const next = await repository.claim();
    assert.deepEqual([next?.job.id, next?.cancelRequested], [halfStored.id, true]);
    assert.equal(await repository.cancel(randomUUID()), undefined);
  });
});
