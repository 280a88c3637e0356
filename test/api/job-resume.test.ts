import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { killAll, startServer } from '../support/child-server.js';
import { temporaryDir, unusedPort } from '../support/test-app.js';
import { imageNodeLane } from '../support/lanes.js';

const FILES = 8;
const topic = (file: number) => `topic${file}x`;
const fileText = (file: number) =>
  Array.from({ length: 16 }, (_, line) => `Entry ${line} of ${topic(file)}: a paragraph long enough to be a chunk of its own here.`).join('\n\n');

/** Passage texts the emulator was asked to embed in requests[from, to). */
function passages(nim: NimEmulator, from: number, to = Infinity): string[] {
  return nim
    .requestsTo('/v1/embeddings')
    .slice(from, to)
    .filter((request) => request.body.input_type === 'passage')
    .flatMap((request) => request.body.input as string[]);
}

/** Polls the job until `ready` says so, then kills the server with SIGKILL; returns the job as it was. */
async function killWhen(server: Awaited<ReturnType<typeof startServer>>, location: string, ready: (job: any) => boolean): Promise<any> {
  let job: any;
  for (;;) {
    job = await (await fetch(`${server.base}${location}`)).json();
    if (ready(job)) break;
    assert.notEqual(job.state, 'completed', 'the job finished before it could be killed; slow the emulator down');
    await sleep(10);
  }
  const exited = once(server.process, 'exit');
  server.process.kill('SIGKILL');
  await exited;
  return job;
}

/** The job once it has stopped running. */
async function finishedJob(base: string, location: string): Promise<any> {
  let job: any;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) {
    job = await (await fetch(`${base}${location}`)).json();
    if (job.state !== 'running' && job.state !== 'queued') break;
  }
  return job;
}

describe('a background job killed with SIGKILL', imageNodeLane, () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    killAll();
    for (const step of cleanup) await step();
  });

  it('resumes after restart and embeds nothing it had already stored', async () => {
    const nim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 40, maxConcurrentEmbeddings: 1 });
    const dataDir = await temporaryDir('rag-job-resume-');
    cleanup.push(() => nim.stop(), () => rm(dataDir, { recursive: true, force: true }));
    const env = { EMBEDDINGS_PROVIDER: 'nim', NIM_EMBEDDINGS_URL: nim.url, EMBEDDINGS_BATCH_SIZE: '4', EMBEDDINGS_MAX_CONCURRENCY: '1', CHUNK_SIZE: '120', CHUNK_OVERLAP: '0' };
    const first = await startServer(dataDir, await unusedPort(), env);

    const form = new FormData();
    for (let file = 0; file < FILES; file++) form.append('file', new Blob([fileText(file)]), `notes-${file}.txt`);
    const submitted = await fetch(`${first.base}/v1/files?async=true`, { method: 'POST', body: form });
    assert.equal(submitted.status, 202);
    const location = submitted.headers.get('location') as string;

    const beforeKill = await killWhen(first, location, (job) => job.counts.files_done >= 2);
    const requestsBeforeRestart = nim.requestsTo('/v1/embeddings').length;
    const doneAtKill = new Set<number>(
      beforeKill.files.filter((file: any) => file.state === 'done').map((file: any) => Number(/notes-(\d+)/.exec(file.name)?.[1])),
    );
    assert.ok(doneAtKill.size >= 2 && doneAtKill.size < FILES);

    const second = await startServer(dataDir, await unusedPort(), env);
    const finished = await finishedJob(second.base, location);
    assert.equal(finished.state, 'completed', JSON.stringify(finished));
    assert.equal(finished.counts.files_done, FILES);
    assert.equal(finished.counts.chunks_done, finished.counts.chunks);

    const fileOf = (text: string) => Number(/topic(\d+)x/.exec(text)?.[1]);
    const afterRestart = passages(nim, requestsBeforeRestart);
    assert.ok(afterRestart.length > 0, 'the restarted server did the rest of the job');
    const stored = afterRestart.filter((text) => doneAtKill.has(fileOf(text)));
    assert.deepEqual(stored, [], 'texts of files stored before the kill are not embedded again');
    const listed = (await (await fetch(`${second.base}/v1/documents?limit=1000`)).json()) as any;
    assert.equal(listed.documents.length, FILES);
    const hits = (await (
      await fetch(`${second.base}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `Entry 7 of ${topic(FILES - 1)}` }) })
    ).json()) as any;
    assert.equal(hits.results[0].metadata.source, `notes-${FILES - 1}.txt`);
  });

  it('a documents job resumes after restart from its saved documents, embedding nothing twice', async () => {
    const nim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 100, maxConcurrentEmbeddings: 1 });
    const dataDir = await temporaryDir('rag-documents-job-resume-');
    cleanup.push(() => nim.stop(), () => rm(dataDir, { recursive: true, force: true }));
    const env = { EMBEDDINGS_PROVIDER: 'nim', NIM_EMBEDDINGS_URL: nim.url, EMBEDDINGS_BATCH_SIZE: '50', EMBEDDINGS_MAX_CONCURRENCY: '1', CHUNK_SIZE: '120', CHUNK_OVERLAP: '0' };
    const first = await startServer(dataDir, await unusedPort(), env);
    // 16 chunks each: a job batch (400 chunks) holds 25 documents, so 100 make 4 batches.
    const documents = Array.from({ length: 100 }, (_, n) => ({ text: fileText(n) }));
    const submitted = await fetch(`${first.base}/v1/documents?async=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ documents }) });
    assert.equal(submitted.status, 202);
    const location = submitted.headers.get('location') as string;
    const id = location.split('/').at(-1) as string;

    const beforeKill = await killWhen(first, location, (job) => job.documents.done >= 25);
    const requestsBeforeRestart = nim.requestsTo('/v1/embeddings').length;
    const doneAtKill = beforeKill.documents.done as number;
    assert.ok(doneAtKill < documents.length);

    const second = await startServer(dataDir, await unusedPort(), env);
    const finished = await finishedJob(second.base, location);
    assert.equal(finished.state, 'completed', JSON.stringify(finished));
    assert.equal(finished.documents.done, documents.length);
    assert.equal(finished.counts.chunks_done, finished.counts.chunks);

    const documentOf = (text: string) => Number(/topic(\d+)x/.exec(text)?.[1]);
    const afterRestart = passages(nim, requestsBeforeRestart);
    assert.ok(afterRestart.length > 0, 'the restarted server did the rest of the job');
    assert.deepEqual(afterRestart.filter((text) => documentOf(text) < doneAtKill), [], 'documents stored before the kill are not embedded again');
    const last = (await (await fetch(`${second.base}/v1/documents/${id}-99`)).json()) as any;
    assert.equal(last.text, fileText(99));
  });
});
