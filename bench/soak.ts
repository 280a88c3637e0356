import { readFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { embeddingRewrites, type Fault, FaultyNim } from '../test/support/faulty-nim.js';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from '../test/support/nim-emulator.js';
import { startService, stop } from './serving.js';
import { benchFlags, count, markdownTable, print, progress, randomWords, seededRandom, temporaryDir, writeResultsSection } from './support.js';

/**
 * Soak: the service (its real process entry) under steady mixed load for SOAK_MINUTES (default
 * 10; `--quick`: 1, results not written), against emulated NIMs behind the fault-injecting proxy,
 * which breaks a call every few seconds in ways the service must absorb by retrying (resets
 * before and after the headers, truncated and HTML bodies, a bad vector, 5xx, 429 and 503 with
 * short Retry-After). Every caller must still get a success: errors target 0. Memory (RSS, heap),
 * open file descriptors and event-loop delay p99 are sampled from the service every 10 s;
 * growth is measured from the end of the warm-up (the first fifth) to the end.
 */

const flags = benchFlags();
const minutes = flags.quick ? 1 : Number(process.env.SOAK_MINUTES ?? 10);
const WORKERS = 6;
const SAMPLE_EVERY_MS = 10_000;
const FAULT_EVERY_MS = 2_000;
/** Documents a caller keeps at most: past it, it deletes instead of ingesting, so the store reaches a steady size in the warm-up. */
const KEPT_PER_WORKER = 100;

const embeddingFaults: Fault[] = [
  { kind: 'reset-before-headers' },
  { kind: 'reset-after-headers' },
  { kind: 'truncate' },
  { kind: 'body', contentType: 'text/html', body: '<html>502 Bad Gateway</html>' },
  { kind: 'rewrite', rewrite: embeddingRewrites.badNumber(0, '1e400') },
  { kind: 'rewrite', rewrite: embeddingRewrites.wrongDimension(0, 512) },
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503, retryAfter: '0.2' },
  { kind: 'status', status: 429, retryAfter: '0.2' },
];
/** Chat faults the service can retry: before a stream starts, nothing has reached the caller. */
const chatFaults: Fault[] = [{ kind: 'reset-before-headers' }, { kind: 'status', status: 500 }, { kind: 'status', status: 429, retryAfter: '0.2' }];

interface Sample {
  seconds: number;
  rssMb: number;
  heapMb: number;
  fds: number;
  loopP99Ms: number;
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

async function sample(url: string, pid: number, started: number): Promise<Sample> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  return {
    seconds: Math.round((performance.now() - started) / 1000),
    rssMb: rssKb / 1024,
    heapMb: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
    fds: metric(text, 'process_open_fds'),
    loopP99Ms: metric(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
  };
}

const embeddingsNim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 5 });
const llmNim = await NimEmulator.start({ models: [LLM_MODEL], chatLatencyMs: 20, tokenIntervalMs: 2 });
const embeddingsProxy = await FaultyNim.start(embeddingsNim.origin);
const llmProxy = await FaultyNim.start(llmNim.origin);
const dataDir = await temporaryDir('soak-');
const service = await startService({
  DATA_DIR: dataDir,
  NIM_EMBEDDINGS_URL: embeddingsProxy.url,
  NIM_LLM_URL: llmProxy.url,
  NIM_TIMEOUT_MS: '5000',
  SNAPSHOT_EVERY_CHUNKS: '2000',
  REQUEST_TIMEOUT_MS: '60000',
});
const pid = service.child.pid as number;
progress(`soak: ${minutes} min, ${WORKERS} workers, a NIM fault every ${FAULT_EVERY_MS / 1000} s`);

const counts = { ingest: 0, search: 0, ask: 0, streamedAsk: 0, delete: 0 };
const errors: string[] = [];
let faultsInjected = 0;
const deadline = performance.now() + minutes * 60_000;
const started = performance.now();

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

async function expectOk(what: string, response: Response): Promise<string> {
  const text = await response.text();
  if (!response.ok) errors.push(`${what}: ${response.status} ${text.slice(0, 300)}`);
  return text;
}

/** A streamed answer counts only if it ends with `done` and carries no `error` event. */
async function streamedAsk(question: string): Promise<void> {
  const response = await post('/v1/ask', { question, k: 3 }, { accept: 'text/event-stream' });
  if (!response.ok) return void (await expectOk('streamed ask', response));
  const names: string[] = [];
  const parser = createParser({ onEvent: (event) => names.push(event.event ?? 'message') });
  const decoder = new TextDecoder();
  for await (const piece of response.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(piece, { stream: true }));
  if (names.at(-1) !== 'done' || names.includes('error')) errors.push(`streamed ask: events ${names.join(' ')}`);
}

async function deleteOne(mine: string[], random: () => number): Promise<void> {
  const victim = mine.splice(Math.floor(random() * mine.length), 1)[0] as string;
  await expectOk('delete', await fetch(`${service.url}/v1/documents/${victim}`, { method: 'DELETE' }));
  counts.delete += 1;
}

async function worker(id: number): Promise<void> {
  const random = seededRandom(1000 + id);
  const mine: string[] = [];
  let next = 0;
  while (performance.now() < deadline) {
    const roll = random();
    const full = mine.length >= KEPT_PER_WORKER;
    try {
      if (roll < 0.3 && full) {
        await deleteOne(mine, random);
      } else if (roll < 0.3 || mine.length < 5) {
        const documents = Array.from({ length: 1 + Math.floor(random() * 8) }, () => ({
          id: `w${id}-${next++}`,
          text: Array.from({ length: 1 + Math.floor(random() * 4) }, () => randomWords(random, 80)).join('\n\n'),
        }));
        await expectOk('ingest', await post('/v1/documents', { documents, chunking: { size: 400, overlap: 40 } }));
        mine.push(...documents.map((document) => document.id));
        counts.ingest += 1;
      } else if (roll < 0.65) {
        await expectOk('search', await post('/v1/search', { query: randomWords(random, 6), k: 5 }));
        counts.search += 1;
      } else if (roll < 0.8) {
        await expectOk('ask', await post('/v1/ask', { question: randomWords(random, 8), k: 3 }));
        counts.ask += 1;
      } else if (roll < 0.9) {
        await streamedAsk(randomWords(random, 8));
        counts.streamedAsk += 1;
      } else {
        await deleteOne(mine, random);
      }
    } catch (error) {
      errors.push(`worker ${id}: ${(error as Error).message}`);
    }
  }
}

async function injectFaults(): Promise<void> {
  const random = seededRandom(7);
  while (performance.now() < deadline) {
    await sleep(FAULT_EVERY_MS);
    if (random() < 0.7) embeddingsProxy.inject('/v1/embeddings', embeddingFaults[Math.floor(random() * embeddingFaults.length)] as Fault);
    else llmProxy.inject('/v1/chat/completions', chatFaults[Math.floor(random() * chatFaults.length)] as Fault);
    faultsInjected += 1;
  }
}

const samples: Sample[] = [];
async function sampler(): Promise<void> {
  while (performance.now() < deadline) {
    samples.push(await sample(service.url, pid, started));
    const last = samples.at(-1) as Sample;
    progress(
      `${last.seconds} s: rss ${last.rssMb.toFixed(0)} MB, heap ${last.heapMb.toFixed(0)} MB, fds ${last.fds}, loop p99 ${last.loopP99Ms.toFixed(1)} ms, ` +
        `requests ${Object.values(counts).reduce((a, b) => a + b, 0)}, errors ${errors.length}`,
    );
    await sleep(SAMPLE_EVERY_MS);
  }
}

await Promise.all([...Array.from({ length: WORKERS }, (_, id) => worker(id)), injectFaults(), sampler()]);
samples.push(await sample(service.url, pid, started));
const totals = (await (await fetch(`${service.url}/v1/collections`)).json()) as { collections: Array<{ documents: number; chunks: number }> };
await stop(service);
await Promise.all([embeddingsProxy.stop(), llmProxy.stop()]);
await Promise.all([embeddingsNim.stop(), llmNim.stop()]);
await rm(dataDir, { recursive: true, force: true });

const warm = samples.filter((entry) => entry.seconds >= (minutes * 60) / 5);
const mean = (entries: Sample[], pick: (entry: Sample) => number) => entries.reduce((sum, entry) => sum + pick(entry), 0) / entries.length;
const growth = (pick: (entry: Sample) => number) => {
  const first = mean(warm.slice(0, 3), pick);
  const last = mean(warm.slice(-3), pick);
  return `${first.toFixed(0)} → ${last.toFixed(0)} MB (${(((last - first) / first) * 100).toFixed(1)} %)`;
};
// Heap used swings with the collector's timing; the lowest sample of a stretch is what stays live.
const fifth = (minutes * 60) / 5;
const floorGrowth = (pick: (entry: Sample) => number) => {
  const first = Math.min(...warm.filter((entry) => entry.seconds < 2 * fifth).map(pick));
  const last = Math.min(...warm.filter((entry) => entry.seconds >= 4 * fifth).map(pick));
  return `${first.toFixed(0)} → ${last.toFixed(0)} MB (${(((last - first) / first) * 100).toFixed(1)} %)`;
};
const requests = Object.values(counts).reduce((a, b) => a + b, 0);
const loopP99 = warm.map((entry) => entry.loopP99Ms).sort((a, b) => a - b);
const fds = samples.map((entry) => entry.fds);
const stored = totals.collections[0] ?? { documents: 0, chunks: 0 };

const body = [
  `Parameters: ${minutes} min, ${WORKERS} concurrent callers in a loop: 30 % ingest (1-8 documents of 1-4 paragraphs, chunked at 400), 35 % search, 15 % ask, 10 % streamed ask, 10 % delete of an own document (and every ingest once a caller holds ${KEPT_PER_WORKER} documents, so the store stays at a steady size); emulated NIMs (embedding latency 5 ms, chat 20 ms + 2 ms a token) behind the fault proxy, which broke ${count(faultsInjected)} calls (one every ${FAULT_EVERY_MS / 1000} s: resets before/after headers, truncated and HTML bodies, 1e400 and 512-dimensional vectors, 500, 503 and 429 with short Retry-After), all of kinds the service retries. Samples every ${SAMPLE_EVERY_MS / 1000} s from the service's /metrics and /proc; growth from the end of the warm-up (first fifth, mean of 3 samples) to the end (mean of the last 3), and of the floor: the lowest sample of the fifth after the warm-up against the lowest of the last fifth. The machine is shared with other work (noisy).`,
  '',
  markdownTable(
    ['requests', 'errors', 'ingests / searches / asks / streamed / deletes', 'stored at end', 'RSS after warm-up', 'heap used after warm-up', 'RSS floor', 'heap used floor', 'open fds (min–max)', 'event-loop delay p99 after warm-up (median of samples, worst)'],
    [
      [
        count(requests),
        count(errors.length),
        `${counts.ingest} / ${counts.search} / ${counts.ask} / ${counts.streamedAsk} / ${counts.delete}`,
        `${count(stored.documents)} documents, ${count(stored.chunks)} chunks`,
        growth((entry) => entry.rssMb),
        growth((entry) => entry.heapMb),
        floorGrowth((entry) => entry.rssMb),
        floorGrowth((entry) => entry.heapMb),
        `${Math.min(...fds)}–${Math.max(...fds)}`,
        `${(loopP99[Math.floor(loopP99.length / 2)] ?? 0).toFixed(1)} ms, ${(loopP99.at(-1) ?? 0).toFixed(1)} ms`,
      ],
    ],
  ),
  '',
  errors.length === 0 ? 'No caller saw an error.' : `Errors (first 10):\n\n${errors.slice(0, 10).map((error) => `- ${error}`).join('\n')}`,
].join('\n');
print(body);
await writeResultsSection({ id: 'bench:soak', title: 'Soak: mixed load with NIM faults (bench:soak)', body });
