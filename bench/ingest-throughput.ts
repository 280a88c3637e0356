import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { NVIDIAClient, NVIDIAEmbeddings } from '@nim-rag/langchain-nvidia';
import { EMBED_MODEL } from '../test/support/nim-emulator.js';
import { cpuSeconds, DIMENSIONS, type Process, startNim, startService, stop } from './serving.js';
import {
  benchFlags,
  count,
  loadLangChainHnswLib,
  markdownTable,
  postJson,
  print,
  progress,
  randomWords,
  seededRandom,
  silentLogger,
  temporaryDir,
  writeResultsSection,
} from './support.js';

/**
 * bench:ingest — how close ingesting comes to the limit the embedding NIM sets. 20,000 texts of
 * about 100 words (one chunk each) go through POST /v1/documents, BATCH per request with
 * CLIENT_REQUESTS in flight, to the NIM emulator answering a request of n inputs after
 * LATENCY_MS + n × LATENCY_PER_INPUT_MS and serving at most `cap` requests at once: its capacity
 * is cap × 50 inputs ÷ the latency of a 50-input request. The service runs with its defaults
 * (EMBEDDINGS_MAX_CONCURRENCY 8: more requests than the NIM serves at once, so the next one is
 * always waiting there). In the same run, LangChain's HNSWLib.fromTexts with its defaults embeds
 * and indexes the same texts through an NVIDIAEmbeddings client of the same concurrency.
 */

const flags = benchFlags();
const TEXTS = flags.quick ? 2000 : 20_000;
const CAPS = flags.quick ? [2] : [1, 2, 4];
const BATCH = 200;
const CLIENT_REQUESTS = 8;
const LATENCY_MS = 20;
const LATENCY_PER_INPUT_MS = 0.1;
const NIM_BATCH = 50;
const TARGET_SHARE = 0.85;
const GRAPH_TIMEOUT_MS = 15 * 60_000;

interface HnswLibClass {
  fromTexts(texts: string[], metadatas: object[], embeddings: unknown): Promise<unknown>;
}

const capacity = (cap: number) => (cap * NIM_BATCH * 1000) / (LATENCY_MS + NIM_BATCH * LATENCY_PER_INPUT_MS);

const random = seededRandom(17);
const texts = Array.from({ length: TEXTS }, () => randomWords(random, 100));

interface Run {
  seconds: number;
  /** CPU seconds the emulator used meanwhile: near the run's length means it, not the service, was the limit. */
  nimCpu: number;
}

async function timedWithNim<T>(nim: Process, work: () => Promise<T>): Promise<Run> {
  const cpuBefore = await cpuSeconds(nim);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, nimCpu: (await cpuSeconds(nim)) - cpuBefore };
}

const startCappedNim = (cap: number) =>
  startNim({ models: [EMBED_MODEL], dimensions: DIMENSIONS, embedLatencyMs: LATENCY_MS, embedLatencyPerInputMs: LATENCY_PER_INPUT_MS, maxConcurrentEmbeddings: cap });

/** POSTs every text in batches, CLIENT_REQUESTS at a time. */
async function ingestAll(url: string): Promise<void> {
  let next = 0;
  const client = async () => {
    while (next < texts.length) {
      const start = next;
      next += BATCH;
      const documents = texts.slice(start, start + BATCH).map((text, offset) => ({ id: `doc-${start + offset}`, text }));
      await postJson(`${url}/v1/documents`, { documents });
    }
  };
  await Promise.all(Array.from({ length: CLIENT_REQUESTS }, client));
}

/** Seconds until the background indexer has moved every chunk into the graph, read from /metrics. */
async function graphCaughtUp(url: string): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < GRAPH_TIMEOUT_MS) {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const waiting = /^rag_store_chunks\{collection="default",tier="exact"\} (\d+)/m.exec(metrics)?.[1];
    if (waiting === '0') return (performance.now() - started) / 1000;
    await sleep(250);
  }
  return Number.NaN;
}

async function service(cap: number): Promise<{ run: Run; graphSeconds: number }> {
  const dataDir = await temporaryDir('bench-ingest-');
  let nim: Process | undefined;
  let server: Process | undefined;
  try {
    nim = await startCappedNim(cap);
    server = await startService({
      DATA_DIR: dataDir,
      NIM_EMBEDDINGS_URL: nim.url,
      NIM_EMBEDDINGS_MODEL: EMBED_MODEL,
      LLM_PROVIDER: 'local',
    });
    const url = server.url;
    const run = await timedWithNim(nim, () => ingestAll(url));
    // A collection no larger than EXACT_SEARCH_MAX_CHUNKS never goes into the graph.
    return { run, graphSeconds: TEXTS > loadConfig({}).hnsw.exactSearchMaxChunks ? await graphCaughtUp(url) : Number.NaN };
  } finally {
    await stop(server);
    await stop(nim);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function langchain(cap: number, HNSWLib: HnswLibClass): Promise<Run> {
  const nim = await startCappedNim(cap);
  const { nim: limits } = loadConfig({});
  const client = new NVIDIAClient({
    baseUrl: nim.url,
    timeoutMs: limits.timeoutMs,
    maxRetries: limits.maxRetries,
    maxConcurrency: limits.embeddingsConcurrency,
    logger: silentLogger,
  });
  try {
    const embeddings = new NVIDIAEmbeddings({ client, model: EMBED_MODEL, truncate: 'NONE' });
    return await timedWithNim(nim, () => HNSWLib.fromTexts(texts, texts.map((_, n) => ({ n })), embeddings));
  } finally {
    await client.close();
    await stop(nim);
  }
}

interface CapResult {
  cap: number;
  ours: Run;
  graphSeconds: number;
  theirs: Run;
}

function report(results: CapResult[]): string {
  const perSecond = (run: Run) => TEXTS / run.seconds;
  const rows = results.flatMap(({ cap, ours, graphSeconds, theirs }) => [
    [cap, count(Math.round(capacity(cap))), 'this service: POST /v1/documents', ours.seconds.toFixed(1), count(Math.round(perSecond(ours))), `${((perSecond(ours) / capacity(cap)) * 100).toFixed(0)}%`, `${((ours.nimCpu / ours.seconds) * 100).toFixed(0)}%`, Number.isNaN(graphSeconds) ? '—' : (ours.seconds + graphSeconds).toFixed(1), Number.isNaN(graphSeconds) ? 'stays in the exact tier (no larger than EXACT_SEARCH_MAX_CHUNKS)' : `graph caught up ${graphSeconds.toFixed(1)} s after the last reply`],
    [cap, count(Math.round(capacity(cap))), 'LangChain HNSWLib.fromTexts', theirs.seconds.toFixed(1), count(Math.round(perSecond(theirs))), `${((perSecond(theirs) / capacity(cap)) * 100).toFixed(0)}%`, `${((theirs.nimCpu / theirs.seconds) * 100).toFixed(0)}%`, theirs.seconds.toFixed(1), 'in memory only, nothing durable'],
  ]);
  const totals = results
    .filter(({ graphSeconds }) => !Number.isNaN(graphSeconds))
    .map(({ cap, ours, graphSeconds, theirs }) => {
      const total = ours.seconds + graphSeconds;
      return `- cap ${cap}: acknowledged ${(theirs.seconds / ours.seconds).toFixed(1)}× sooner than HNSWLib.fromTexts returns; fully in the graph after ${total.toFixed(1)} s against its ${theirs.seconds.toFixed(1)} s (${(theirs.seconds / total).toFixed(2)}×).`;
    });
  const verdicts = results.map(({ cap, ours }) => {
    const share = perSecond(ours) / capacity(cap);
    return `- cap ${cap}: ${(share * 100).toFixed(0)}% of capacity (target ≥ ${TARGET_SHARE * 100}%): ${share >= TARGET_SHARE ? 'met' : 'missed'}.`;
  });
  return [
    `Parameters: ${count(TEXTS)} texts of about 100 words (one chunk each at the default CHUNK_SIZE), ${BATCH} per request, ${CLIENT_REQUESTS} requests in flight; the NIM emulator (${DIMENSIONS} dimensions, its own process) answers n inputs after ${LATENCY_MS} ms + n × ${LATENCY_PER_INPUT_MS} ms with at most \`cap\` requests at once, so its capacity is cap × ${NIM_BATCH} ÷ ${LATENCY_MS + NIM_BATCH * LATENCY_PER_INPUT_MS} ms; the service (src/server.ts, its own process, fresh DATA_DIR, offline answerer) runs with its defaults (EMBEDDINGS_MAX_CONCURRENCY 8). A reply means the chunks are in the fsynced log and searchable. HNSWLib.fromTexts runs in the benchmark's process over NVIDIAEmbeddings with the same concurrency. "Emulator CPU" is the share of the run the emulator's process was on a core: near 100% means the emulator, not the service, was the limit. "Fully in the graph" is the time from the first request until every chunk is in the HNSW graph (the exact-tier count in /metrics, polled every 250 ms, reaches 0); for HNSWLib.fromTexts it is the time until it returns.`,
    '',
    markdownTable(['cap', 'capacity chunks/s', 'what', 'seconds', 'chunks/s', 'of capacity', 'emulator CPU', 'fully in the graph s', 'notes'], rows),
    '',
    ...verdicts,
    ...totals,
  ].join('\n');
}

async function main(): Promise<void> {
  const HNSWLib = await loadLangChainHnswLib<HnswLibClass>();
  const results: CapResult[] = [];
  for (const cap of CAPS) {
    progress(`cap ${cap}: the service`);
    const { run: ours, graphSeconds } = await service(cap);
    progress(`cap ${cap}: LangChain HNSWLib.fromTexts`);
    const theirs = await langchain(cap, HNSWLib);
    results.push({ cap, ours, graphSeconds, theirs });
  }
  const body = report(results);
  print(body);
  await writeResultsSection({ id: 'bench:ingest', title: 'Ingest throughput (bench:ingest)', body });
}

await main();
