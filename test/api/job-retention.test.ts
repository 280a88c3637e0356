import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import pg from 'pg';
import { type ServiceBackend, serviceBackends } from '../support/service-backends.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { UNRESTRICTED } from '../../src/auth/principal.js';

const HOUR = 3_600_000;
const exists = (path: string) => access(path).then(() => true, () => false);

async function finishedJob(test: TestApp, text: string): Promise<string> {
  const reply = await test.app.inject({ method: 'POST', url: '/v1/documents?async=true', payload: { documents: [{ text }] } });
  assert.equal(reply.statusCode, 202, reply.body);
  const { id } = reply.json<{ id: string }>();
  for await (const view of test.services.jobs.events(id, UNRESTRICTED, AbortSignal.timeout(20_000))) void view;
  assert.equal((await test.services.jobs.get(id, UNRESTRICTED)).state, 'completed');
  return id;
}

const status = async (test: TestApp, id: string) => (await test.app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).statusCode;

/** Where each backend keeps a job: backdating its end, and whether anything of it is left. */
function storage(backend: ServiceBackend['name'], env: Record<string, string>) {
  const sql = async <T extends pg.QueryResultRow>(text: string, values: unknown[]) => {
    const client = new pg.Client(env.DATABASE_URL);
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  if (backend === 'pgvector') {
    return {
      finishedHoursAgo: async (_test: TestApp, id: string, hours: number) => {
        await sql('UPDATE rag_jobs SET finished_at = now() - make_interval(hours => $2) WHERE id = $1', [id, hours]);
      },
      kept: async (_test: TestApp, id: string) => (await sql('SELECT 1 FROM rag_jobs WHERE id = $1', [id])).length > 0,
    };
  }
  return {
    finishedHoursAgo: async (test: TestApp, id: string, hours: number) => {
      const journal = join(test.dataDir, 'jobs', id, 'job.json');
      const record = JSON.parse(await readFile(journal, 'utf8'));
      await writeFile(journal, JSON.stringify({ ...record, finished_at: new Date(Date.now() - hours * HOUR).toISOString() }));
    },
    kept: (test: TestApp, id: string) => exists(join(test.dataDir, 'jobs', id)),
  };
}

for (const backend of serviceBackends()) {
  describe(`finished jobs are kept for JOB_RETENTION_HOURS, then forgotten (${backend.name} store)`, () => {
    // Each test closes its apps: the next one empties the database that they would otherwise go on polling.
    const apps: TestApp[] = [];
    afterEach(async () => {
      for (const app of apps.splice(0)) await app.close();
    });

    it('a finished job past its retention is removed and answers 404; one within it stays', async () => {
      const env = { ...(await backend.prepare()), EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', JOB_RETENTION_HOURS: '1' };
      const jobs = storage(backend.name, env);
      const first = await startTestApp(env);
      apps.push(first);
      const old = await finishedJob(first, 'A note about the old harbour.');
      const recent = await finishedJob(first, 'A note about the new harbour.');

      assert.equal(await first.services.jobs.prune(Date.now() + 0.5 * HOUR), 0);
      assert.deepEqual([await status(first, old), await status(first, recent)], [200, 200]);

      // As if `old` had finished two hours ago: the next start prunes it.
      await jobs.finishedHoursAgo(first, old, 2);
      await first.stop();
      apps.pop();
      const second = await startTestApp(env, first.dataDir);
      apps.push(second);
      assert.deepEqual([await status(second, old), await status(second, recent)], [404, 200]);
      assert.deepEqual([await jobs.kept(second, old), await jobs.kept(second, recent)], [false, true]);

      // While running, later, the periodic pass removes the other once its hour has gone by.
      assert.equal(await second.services.jobs.prune(Date.now() + 1.5 * HOUR), 1);
      assert.equal(await status(second, recent), 404);
      assert.equal(await jobs.kept(second, recent), false);
    });

    it('JOB_RETENTION_HOURS=0 keeps finished jobs for ever', async () => {
      const test = await startTestApp({ ...(await backend.prepare()), EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', JOB_RETENTION_HOURS: '0' });
      apps.push(test);
      const id = await finishedJob(test, 'A note kept for ever.');
      assert.equal(await test.services.jobs.prune(Date.now() + 10 * 365 * 24 * HOUR), 0);
      assert.equal(await status(test, id), 200);
    });
  });
}
