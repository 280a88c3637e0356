import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/test-app.js';

const HOUR = 3_600_000;
const exists = (path: string) => access(path).then(() => true, () => false);

async function finishedJob(test: TestApp, text: string): Promise<string> {
  const reply = await test.app.inject({ method: 'POST', url: '/v1/documents?async=true', payload: { documents: [{ text }] } });
  assert.equal(reply.statusCode, 202, reply.body);
  const { id } = reply.json<{ id: string }>();
  for await (const view of test.services.jobs.events(id, AbortSignal.timeout(20_000))) void view;
  assert.equal((await test.services.jobs.get(id)).state, 'completed');
  return id;
}

const status = async (test: TestApp, id: string) => (await test.app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).statusCode;

describe('finished jobs are kept for JOB_RETENTION_HOURS, then forgotten', () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  it('a finished job past its retention loses its journal and answers 404; one within it stays', async () => {
    const env = { EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', JOB_RETENTION_HOURS: '1' };
    const first = await startTestApp(env);
    const jobsDir = join(first.dataDir, 'jobs');
    const old = await finishedJob(first, 'A note about the old harbour.');
    const recent = await finishedJob(first, 'A note about the new harbour.');

    assert.equal(await first.services.jobs.prune(Date.now() + 0.5 * HOUR), 0);
    assert.deepEqual([await status(first, old), await status(first, recent)], [200, 200]);

    // As if `old` had finished two hours ago: the next start prunes it.
    const journal = join(jobsDir, old, 'job.json');
    const record = JSON.parse(await readFile(journal, 'utf8'));
    await writeFile(journal, JSON.stringify({ ...record, finished_at: new Date(Date.now() - 2 * HOUR).toISOString() }));
    await first.stop();
    const second = await startTestApp(env, first.dataDir);
    apps.push(second);
    assert.deepEqual([await status(second, old), await status(second, recent)], [404, 200]);
    assert.deepEqual([await exists(join(jobsDir, old)), await exists(join(jobsDir, recent))], [false, true]);

    // While running, later, the periodic pass removes the other once its hour has gone by.
    assert.equal(await second.services.jobs.prune(Date.now() + 1.5 * HOUR), 1);
    assert.equal(await status(second, recent), 404);
    assert.equal(await exists(join(jobsDir, recent)), false);
  });

  it('JOB_RETENTION_HOURS=0 keeps finished jobs for ever', async () => {
    const test = await startTestApp({ EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', JOB_RETENTION_HOURS: '0' });
    apps.push(test);
    const id = await finishedJob(test, 'A note kept for ever.');
    assert.equal(await test.services.jobs.prune(Date.now() + 10 * 365 * 24 * HOUR), 0);
    assert.equal(await status(test, id), 200);
  });
});
