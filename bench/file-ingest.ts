import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMBED_MODEL } from '../test/support/nim-emulator.js';
import { makeDocx, makePdf } from '../test/support/documents.js';
import { loadConfig } from '../src/config.js';
import { DIMENSIONS, startNim, startService, stop, type Process } from './serving.js';
import { benchFlags, markdownTable, ms, postJson, print, progress, randomWords, seededRandom, summarize, temporaryDir, writeResultsSection } from './support.js';

/**
 * bench:files — a folder of mixed documents (PDF, DOCX, HTML, Markdown) uploaded to POST /v1/files
 * as one background job: files/s and chunks/s from the upload to the finished job, against the
 * capacity of the emulated embedding NIM; and search latency while the job runs, against idle.
 * Twice in one run: text extraction on the main thread, and on the extraction worker threads.
 */

const flags = benchFlags();
const FILES_PER_TYPE = flags.quick ? 3 : 15;
const PDF_PAGES = 8;
const SECTIONS = 8;
const LATENCY_MS = 20;
const LATENCY_PER_INPUT_MS = 0.1;
const CAP = 2;
const NIM_BATCH = 50;
const SEARCHES_IDLE = flags.quick ? 50 : 300;
const capacity = (CAP * NIM_BATCH * 1000) / (LATENCY_MS + NIM_BATCH * LATENCY_PER_INPUT_MS);

const random = seededRandom(23);
const sentence = () => `${randomWords(random, 14)}.`;
/** About 1,600 characters: two chunks at the default CHUNK_SIZE. */
const block = () => Array.from({ length: 16 }, sentence).join(' ');

async function corpus(): Promise<Array<{ name: string; content: Uint8Array | string }>> {
  const files: Array<{ name: string; content: Uint8Array | string }> = [];
  for (let n = 0; n < FILES_PER_TYPE; n++) {
    // A PDF line holds about 90 characters; 18 lines make a page of about 1,600.
    const page = () => Array.from({ length: 18 }, () => randomWords(random, 14)).join('\n');
    files.push({ name: `report-${n}.pdf`, content: await makePdf(Array.from({ length: PDF_PAGES }, page)) });
    files.push({ name: `guide-${n}.docx`, content: await makeDocx(Array.from({ length: SECTIONS }, (_, s) => [`# Part ${s}`, block()]).flat()) });
    files.push({
      name: `page-${n}.html`,
      content: `<!doctype html><html><head><script>var x = 1;</script></head><body><nav>home</nav>${Array.from({ length: SECTIONS }, (_, s) => `<h2>Part ${s}</h2><p>${block()}</p>`).join('')}</body></html>`,
    });
    files.push({ name: `notes-${n}.md`, content: Array.from({ length: SECTIONS }, (_, s) => `## Part ${s}\n\n${block()}\n`).join('\n') });
  }
  return files;
}

async function searchLatencies(url: string, keepGoing: () => boolean, atMost: number): Promise<number[]> {
  const latencies: number[] = [];
  while (keepGoing() && latencies.length < atMost) {
    const started = performance.now();
    await postJson(`${url}/v1/search`, { query: randomWords(random, 6), k: 4 });
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** prom-client's event-loop delay since its last scrape (each scrape starts the measure again), in ms. */
async function eventLoopDelay(url: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]) * 1000;
  return { p99: gauge('nodejs_eventloop_lag_p99_seconds'), max: gauge('nodejs_eventloop_lag_max_seconds') };
}

interface RunResult {
  /** A first, synchronous upload of one PDF and one DOCX: on worker threads, it starts them. */
  firstUpload: number;
  chunks: number;
  seconds: number;
  idle: number[];
  busy: number[];
  /** The service's event-loop delay while the job ran. */
  delay: { p99: number; max: number };
}

/** One service on a fresh DATA_DIR, extracting on `extractThreads` worker threads (0: the main thread). */
async function run(files: Array<{ name: string; content: Uint8Array | string }>, bytes: number, extractThreads: number): Promise<RunResult> {
  const dataDir = await temporaryDir('bench-files-');
  let nim: Process | undefined;
  let server: Process | undefined;
  try {
    nim = await startNim({ models: [EMBED_MODEL], dimensions: DIMENSIONS, embedLatencyMs: LATENCY_MS, embedLatencyPerInputMs: LATENCY_PER_INPUT_MS, maxConcurrentEmbeddings: CAP });
    server = await startService({ DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, LLM_PROVIDER: 'local', FILE_EXTRACT_THREADS: String(extractThreads) });
    const url = server.url;
    await postJson(`${url}/v1/documents`, { documents: Array.from({ length: 200 }, (_, n) => ({ id: `seed-${n}`, text: block() })) });
    const first = new FormData();
    for (const file of files.slice(0, 2)) first.append('file', new Blob([file.content]), `first-${file.name}`);
    const firstStarted = performance.now();
    const firstReply = await fetch(`${url}/v1/files`, { method: 'POST', body: first });
    if (firstReply.status !== 201) throw new Error(`first upload answered ${firstReply.status}: ${await firstReply.text()}`);
    const firstUpload = (performance.now() - firstStarted) / 1000;
    progress(`FILE_EXTRACT_THREADS=${extractThreads}: search latency, idle`);
    const idle = await searchLatencies(url, () => true, SEARCHES_IDLE);

    progress(`FILE_EXTRACT_THREADS=${extractThreads}: uploading ${files.length} files (${(bytes / 1024 ** 2).toFixed(1)} MiB) as one job`);
    const form = new FormData();
    for (const file of files) form.append('file', new Blob([file.content]), file.name);
    await eventLoopDelay(url);
    const started = performance.now();
    const submitted = await fetch(`${url}/v1/files?async=true`, { method: 'POST', body: form });
    if (submitted.status !== 202) throw new Error(`upload answered ${submitted.status}: ${await submitted.text()}`);
    const location = submitted.headers.get('location') as string;
    let job: any;
    let running = true;
    const during = searchLatencies(url, () => running, Number.POSITIVE_INFINITY);
    while (running) {
      job = await (await fetch(`${url}${location}`)).json();
      running = job.state === 'queued' || job.state === 'running';
      if (running) await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    const delay = await eventLoopDelay(url);
    const busy = await during;
    if (job.state !== 'completed' || job.counts.files_failed > 0) throw new Error(`job ended ${job.state}: ${JSON.stringify(job.counts)}`);
    return { firstUpload, chunks: job.counts.chunks, seconds, idle, busy, delay };
  } finally {
    await stop(server);
    await stop(nim);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const files = await corpus();
  const bytes = files.reduce((sum, file) => sum + (typeof file.content === 'string' ? Buffer.byteLength(file.content) : file.content.length), 0);
  const threads = loadConfig({}).files.extractThreads;
  const onMain = await run(files, bytes, 0);
  const onWorkers = await run(files, bytes, threads);
  const column = (result: RunResult) => {
    const chunksPerSecond = result.chunks / result.seconds;
    const idle = summarize(result.idle);
    const busy = summarize(result.busy);
    return {
      chunksPerSecond,
      busyP50: busy.p50,
      busyP99: busy.p99,
      cells: [
        result.firstUpload.toFixed(2),
        result.chunks,
        result.seconds.toFixed(2),
        (files.length / result.seconds).toFixed(1),
        chunksPerSecond.toFixed(0),
        `${((chunksPerSecond / capacity) * 100).toFixed(0)}%`,
        `${ms(idle.p50)} / ${ms(idle.p99)}`,
        `${ms(busy.p50)} / ${ms(busy.p99)} (${busy.count})`,
        (busy.p50 / idle.p50).toFixed(2),
        `${ms(result.delay.p99)} / ${ms(result.delay.max)}`,
      ],
    };
  };
  const main = column(onMain);
  const workers = column(onWorkers);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const ratios = [
    ratio(onWorkers.firstUpload, onMain.firstUpload),
    '',
    ratio(onWorkers.seconds, onMain.seconds),
    ratio(onMain.seconds, onWorkers.seconds),
    ratio(workers.chunksPerSecond, main.chunksPerSecond),
    '',
    '',
    `${ratio(workers.busyP50, main.busyP50)} / ${ratio(workers.busyP99, main.busyP99)}`,
    '',
    `${ratio(onWorkers.delay.p99, onMain.delay.p99)} / ${ratio(onWorkers.delay.max, onMain.delay.max)}`,
  ];
  const labels = [
    'seconds, a first upload of 1 PDF + 1 DOCX (starts the threads)',
    'chunks',
    'seconds, upload to finished job',
    'files/s',
    'chunks/s',
    'of the emulated NIM capacity',
    'search p50 / p99 idle (ms)',
    'search p50 / p99 during the job (ms, searches)',
    'p50 during ÷ idle',
    "the service's event-loop delay during the job, p99 / max (ms)",
  ];
  const body = [
    `Parameters: ${files.length} files (${FILES_PER_TYPE} each of PDF with ${PDF_PAGES} pages, DOCX, HTML and Markdown with ${SECTIONS} heading sections; ${(bytes / 1024 ** 2).toFixed(1)} MiB), uploaded in one multipart request with \`?async=true\` and followed to the finished job; the NIM emulator (its own process, ${DIMENSIONS} dimensions) answers n inputs after ${LATENCY_MS} ms + n × ${LATENCY_PER_INPUT_MS} ms, at most ${CAP} requests at once: a capacity of ${Math.round(capacity)} chunks/s. The service runs as src/server.ts with its defaults but for FILE_EXTRACT_THREADS, twice in one run on fresh data: text extraction on the main thread (0), then on ${threads} worker threads (the default). Before the job, a first upload of one PDF and one DOCX (answered when stored) starts the extraction threads, so the job measures them warm. One client searches in a loop while the job runs; idle: ${SEARCHES_IDLE} searches before it, over 200 seeded documents.`,
    '',
    markdownTable(
      ['what', 'main thread (0)', `worker threads (${threads})`, 'workers ÷ main'],
      labels.map((label, index) => [label, main.cells[index] as string | number, workers.cells[index] as string | number, ratios[index] ?? '']),
    ),
  ].join('\n');
  print(body);
  await writeResultsSection({ id: 'bench:files', title: 'File ingest jobs (bench:files)', body });
}

await main();
