import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { UNRESTRICTED } from '../../src/auth/principal.js';
import { startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';

const ADMIN = 'admin-key-0123456789abcdef';
const A = 'app-a-key-0123456789abcdef';
const B = 'app-b-key-0123456789abcdef';
const B_OTHER = 'app-b-other-0123456789abcdef';
const KEYS = `keys:
  - {name: app-a, key: ${A}, scopes: [read, write], collections: ["app-a-*"]}
  - {name: app-b, key: ${B}, scopes: [read, write], collections: ["app-b-*"]}
  - {name: app-b-other, key: ${B_OTHER}, scopes: [read, write], collections: ["app-b-*"]}
  - {name: platform, key: ${ADMIN}, scopes: [read, write, admin], collections: ["*"]}
`;

// On the embedded store's journal; the Postgres repository keeps the owner too (postgres-job-repository.test.ts).
describe('jobs of scoped keys', () => {
  let test: TestApp;
  let jobId: string;
  const call = (key: string, method: 'GET' | 'DELETE', url: string) => test.app.inject({ method, url, headers: { authorization: `Bearer ${key}` } });
  /** A 404 with the id taken out, to compare two. */
  const shape = (body: Record<string, unknown>, id: string) => JSON.stringify({ ...body, request_id: undefined }).replaceAll(id, '<id>');

  before(async () => {
    const dir = await temporaryDir('rag-keys-');
    await writeFile(join(dir, 'keys.yaml'), KEYS);
    test = await startTestApp({ API_KEYS_FILE: join(dir, 'keys.yaml') });
    const submitted = await test.app.inject({
      method: 'POST',
      url: '/v1/documents?async=true',
      headers: { authorization: `Bearer ${B}` },
      payload: { collection: 'app-b-docs', documents: [{ id: 'd', text: 'Italy is famous for pasta.' }] },
    });
    assert.equal(submitted.statusCode, 202, submitted.body);
    jobId = submitted.json().id;
    for (let view = submitted.json(); view.state !== 'completed'; view = (await call(B, 'GET', `/v1/jobs/${jobId}`)).json()) await sleep(20);
  });
  after(() => test.close());

  it('records the name of the key that submitted the job', async () => {
    assert.equal((await test.services.jobs.get(jobId, UNRESTRICTED)).state, 'completed');
    const record = await (test.services.jobs as unknown as { repository: { get(id: string): Promise<{ owner?: string }> } }).repository.get(jobId);
    assert.equal(record.owner, 'app-b');
  });

  it('shows a job to the key that made it and to admins; to any other key it does not exist', async () => {
    assert.equal((await call(B, 'GET', `/v1/jobs/${jobId}`)).statusCode, 200);
    assert.equal((await call(ADMIN, 'GET', `/v1/jobs/${jobId}`)).statusCode, 200);
    const missing = randomUUID();
    for (const key of [A, B_OTHER]) {
      for (const [method, suffix] of [['GET', ''], ['GET', '/events'], ['DELETE', '']] as const) {
        const refused = await call(key, method, `/v1/jobs/${jobId}${suffix}`);
        const absent = await call(key, method, `/v1/jobs/${missing}${suffix}`);
        assert.equal(refused.statusCode, 404, `${method} ${suffix}`);
        assert.equal(shape(refused.json(), jobId), shape(absent.json(), missing), `${method} ${suffix}: the same as a job that does not exist`);
      }
    }
    const events = await call(B, 'GET', `/v1/jobs/${jobId}/events`);
    assert.equal(events.statusCode, 200);
    assert.match(events.body, /event: done/);
  });
});
