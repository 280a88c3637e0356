import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services/create-services.js';
import { diskFaults } from '../../src/store/durable-fs.js';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { capturingLogger, temporaryDir } from '../support/test-app.js';

/** The real app over `dataDir`, its log lines kept. */
async function startApp(dataDir: string, env: Record<string, string> = {}) {
  const { logger, lines } = capturingLogger('info');
  const config = loadConfig({ EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', ...env, DATA_DIR: dataDir });
  const services = await createServices(config, logger);
  const app = await buildApp({ config, services, logger });
  await app.ready();
  return {
    app,
    lines,
    get: async (id: string) => (await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json<any>(),
    stop: async () => {
      await app.close();
      await services.close();
    },
  };
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

describe('job journals that cannot be read or written', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a corrupt job.json does not stop the start: that job is failed with the reason and logged, the others load and resume', async () => {
    const dataDir = await temporaryDir('rag-journal-corrupt-');
    dirs.push(dataDir);
    const first = await startApp(dataDir);
    const submitted = await first.app.inject({ method: 'POST', url: '/v1/documents?async=true', payload: { documents: [{ id: 'kept', text: 'A note about the harbour.' }] } });
    const kept = submitted.json<{ id: string }>().id;
    await until(() => first.get(kept), (job) => job.state === 'completed');
    await first.stop();

    // One journal cut short, as a disk might leave it, and one unfinished job to resume beside it.
    const corrupt = '11111111-1111-4111-8111-111111111111';
    await mkdir(join(dataDir, 'jobs', corrupt));
    await writeFile(join(dataDir, 'jobs', corrupt, 'job.json'), '{"id":"11111111-1111-4111-8111-1111');
    const unfinished = '22222222-2222-4222-8222-222222222222';
    const documents = [{ id: 'resumed', text: 'A note about the lighthouse.', metadata: {} }];
    await mkdir(join(dataDir, 'jobs', unfinished));
    await writeFile(join(dataDir, 'jobs', unfinished, 'documents.json'), JSON.stringify(documents));
    const progress = { total: 1, chunks_done: 0, batches_done: 0, done: 0, failed: 0, created: 0, updated: 0, unchanged: 0, embedded: 0, reused: 0, errors: [] };
    await writeFile(
      join(dataDir, 'jobs', unfinished, 'job.json'),
      JSON.stringify({ id: unfinished, state: 'queued', collection: 'default', metadata: {}, created_at: new Date().toISOString(), files: [], documents: progress }),
    );

    const second = await startApp(dataDir);
    try {
      const failed = await second.get(corrupt);
      assert.equal(failed.state, 'failed');
      assert.equal(failed.error.status, 500);
      assert.match(failed.error.reason, /its journal \(jobs\/11111111-1111-4111-8111-111111111111\/job\.json\) could not be read \(.*JSON.*\), so the job was not resumed/);
      const logged = second.lines.find((line) => line.job === corrupt);
      assert.equal(logged?.level, 50, 'logged as an error');
      assert.match(logged?.msg, /journal could not be read/);
      assert.deepEqual((await readdir(join(dataDir, 'jobs', corrupt))).sort(), ['job.json', 'job.json.unreadable'], 'the unreadable journal is kept beside the new one');

      assert.equal((await second.get(kept)).state, 'completed');
      const resumed = await until(() => second.get(unfinished), (job) => job.state === 'completed');
      assert.equal(resumed.documents.created, 1);
      assert.equal((await second.app.inject({ method: 'GET', url: '/v1/documents/resumed' })).statusCode, 200);
    } finally {
      await second.stop();
    }
    // Failed is what its journal now says: the next start finds nothing wrong with it.
    const third = await startApp(dataDir);
    try {
      assert.equal((await third.get(corrupt)).state, 'failed');
      assert.equal(third.lines.filter((line) => line.level >= 50).length, 0);
    } finally {
      await third.stop();
    }
  });

  it('a job reads as finished only once its journal says so: GET never shows a state a crash would undo', { timeout: 30_000 }, async () => {
    const dataDir = await temporaryDir('rag-journal-order-');
    dirs.push(dataDir);
    const service = await startApp(dataDir);
    try {
      for (let round = 0; round < 5; round++) {
        const submitted = await service.app.inject({ method: 'POST', url: '/v1/documents?async=true', payload: { documents: [{ id: `order-${round}`, text: 'A note about the tide tables.' }] } });
        const id = submitted.json<{ id: string }>().id;
        const journal = join(dataDir, 'jobs', id, 'job.json');
        for (;;) {
          const { state } = await service.get(id);
          if (state === 'queued' || state === 'running') {
            // One turn of the event loop between looks, so the job's file writes go on.
            await new Promise(setImmediate);
            continue;
          }
          assert.equal(state, 'completed');
          assert.equal(JSON.parse(await readFile(journal, 'utf8')).state, 'completed', `round ${round}: the journal says what GET said`);
          break;
        }
      }
    } finally {
      await service.stop();
    }
  });

  it('a journal write that fails turns the running job failed, visibly and logged, and the service goes on', { timeout: 60_000 }, async () => {
    const nim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 40, maxConcurrentEmbeddings: 1 });
    const dataDir = await temporaryDir('rag-journal-write-');
    dirs.push(dataDir);
    const service = await startApp(dataDir, { EMBEDDINGS_PROVIDER: 'nim', NIM_EMBEDDINGS_URL: nim.url, EMBEDDINGS_BATCH_SIZE: '2', EMBEDDINGS_MAX_CONCURRENCY: '1', CHUNK_SIZE: '80', CHUNK_OVERLAP: '0' });
    const healthy = diskFaults.check;
    try {
      const form = new FormData();
      for (let file = 0; file < 6; file++) {
        form.append('file', new Blob([Array.from({ length: 4 }, (_, line) => `Line ${line} of file ${file}, long enough to be a chunk.`).join('\n\n')]), `part-${file}.txt`);
      }
      const request = new Request('http://localhost/v1/files?async=true', { method: 'POST', body: form });
      const submitted = await service.app.inject({ method: 'POST', url: '/v1/files?async=true', headers: Object.fromEntries(request.headers), payload: Buffer.from(await request.arrayBuffer()) });
      assert.equal(submitted.statusCode, 202, submitted.body);
      const id = submitted.json<{ id: string }>().id;
      await until(() => service.get(id), (job) => job.counts.chunks_done > 0);

      const journal = join(dataDir, 'jobs', id, 'job.json');
      diskFaults.check = (operation, path) => {
        if (operation === 'write' && path.startsWith(journal)) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
      };
      const failed = await until(() => service.get(id), (job) => job.state !== 'running', 10_000);
      assert.equal(failed.state, 'failed');
      assert.ok(failed.finished_at);
      assert.match(failed.error.reason, /^the job stopped: its progress could not be saved \(ENOSPC: no space left on device/);
      const logged = service.lines.find((line) => line.job === id && line.msg === 'ingest job failed');
      assert.equal(logged?.level, 50);
      assert.equal(logged?.err?.code, 'ENOSPC');

      diskFaults.check = healthy;
      const next = await service.app.inject({ method: 'POST', url: '/v1/documents?async=true', payload: { documents: [{ id: 'after', text: 'Written once the disk had room again.' }] } });
      const after = next.json<{ id: string }>().id;
      assert.equal((await until(() => service.get(after), (job) => job.state !== 'queued' && job.state !== 'running')).state, 'completed', 'the next job runs');
      assert.equal(JSON.parse(await readFile(join(dataDir, 'jobs', after, 'job.json'), 'utf8')).state, 'completed');
    } finally {
      diskFaults.check = healthy;
      await service.stop();
      await nim.stop();
    }
  });
});
