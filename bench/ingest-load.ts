import { AsyncLocalStorage } from 'node:async_hooks';
import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createServices } from '../src/services/create-services.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import type { HnswStore } from '../src/store/hnsw-store.js';
import { DEFAULT_COLLECTION } from '../src/store/store-contract.js';
import { type Process, startNim, stop } from './serving.js';
import {
  announce,
  announcement,
  answerRequests,
  ask,
  benchFlags,
  count,
  markdownTable,
  ms,
  postJson,
  print,
  progress,
  randomWords,
  ratio,
  seededRandom,
  startRole,
  stopChild,
  summarize,
  type Summary,
  temporaryDir,
  writeResultsSection,
} from './support.js';

/**
 * bench:load — does a big ingest stall searches? The real app runs in its own process, with the
 * NIM emulator (in a third process) as its embedding NIM and the offline extractive answerer.
 * This process sends searches at a steady rate while it ingests through POST /v1/documents, and
 * reads the server's event-loop delay from the server process itself.
 */

const flags = benchFlags();
const SCRIPT = fileURLToPath(import.meta.url);
const INGEST_CHUNKS = flags.quick ? 2000 : 10_000;
/** Chunks stored before the baseline, so baseline searches embed the query and search a real collection. */
const SEED_CHUNKS = flags.quick ? 200 : 1000;
/** Quick runs lower the threshold so that they too cross it and index a graph in the background. */
const EXACT_SEARCH_MAX_CHUNKS = flags.quick ? 1000 : undefined;
const DIMENSIONS = 1024;
const EMBED_LATENCY_MS = 20;
const EMBED_LATENCY_PER_INPUT_MS = 0.1;
const SEARCHES_PER_SECOND = 20;
/** Searches allowed in flight at once; past it a scheduled search is counted as skipped, never queued. */
const MAX_SEARCHES_IN_FLIGHT = 50;
const QUIET_PHASE_MS = flags.quick ? 3000 : 10_000;
const DOCUMENTS_PER_REQUEST = 25;
const INGEST_CONCURRENCY = 4;
/** About three chunks of the default CHUNK_SIZE (1000 characters, 150 overlap). */
const WORDS_PER_DOCUMENT = 380;
const INGEST_TIMEOUT_MS = 10 * 60_000;
const INDEXING_TIMEOUT_MS = 10 * 60_000;
const VECTOR_POLL_MS = 200;
const LOOP_RESOLUTION_MS = 5;
const PROBE_INTERVAL_MS = 50;
const TARGET_P99_MS = 50;
/** Target for the service's own share of a search: event-loop delay p99 and time beyond the query's embedding call. */
const TARGET_OWN_MS = 10;
const EMBEDDING_MODEL = 'NV-Embed-QA';

// ---- helper processes ------------------------------------------------------------------------

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/** What the server process saw over one phase. */
interface ServerPhase {
  loop: LoopDelay;
  /** POST /v1/search from request to response inside the server: query embedding and store search, without the client's side. */
  searches: Summary;
  /** The same searches less the time their query's embedding call took: the service's own share. */
  beyondEmbedding: Summary;
  /** The in-process probe's searches: event-loop lateness plus the store's search, no NIM (see `probeStoreSearches`). */
  store: Summary;
}

interface VectorState {
  chunks: number;
  exact: number;
  graph: number;
}

interface QueryEmbedder {
  embedQuery(...args: unknown[]): Promise<number[]>;
}

const searchContext = new AsyncLocalStorage<{ embeddingMs: number }>();

/**
 * Durations of POST /v1/search inside the server, from the request's arrival (ahead of Fastify's
 * own listener) to the last byte sent, with and without the time its query's embedding call took
 * (the embedder is wrapped; the request's context finds the call's time).
 */
function timeSearches(server: Server, embedder: QueryEmbedder): { durations: number[]; beyondEmbedding: number[] } {
  const durations: number[] = [];
  const beyondEmbedding: number[] = [];
  const embedQuery = embedder.embedQuery.bind(embedder);
  embedder.embedQuery = async (...args: unknown[]) => {
    const started = performance.now();
    try {
      return await embedQuery(...args);
    } finally {
      const context = searchContext.getStore();
      if (context) context.embeddingMs += performance.now() - started;
    }
  };
  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.url !== '/v1/search') return;
    const started = performance.now();
    const context = { embeddingMs: 0 };
    searchContext.enterWith(context);
    response.once('finish', () => {
      const duration = performance.now() - started;
      durations.push(duration);
      beyondEmbedding.push(duration - context.embeddingMs);
    });
  });
  return { durations, beyondEmbedding };
}

/**
 * Searches the store directly inside the server on a fixed schedule, each timed from when it was
 * due: what a search costs the store and waits for the event loop, with no embedding call.
 */
function probeStoreSearches(store: HnswStore): number[] {
  const durations: number[] = [];
  const random = seededRandom(9);
  let due = performance.now() + PROBE_INTERVAL_MS;
  const tick = () => {
    const collection = store.get(DEFAULT_COLLECTION);
    if (collection) {
      const wasDue = due;
      // Promise.resolve: the same probe also times a store whose search returns at once, without a promise.
      void Promise.resolve(collection.searchVector(Array.from({ length: DIMENSIONS }, () => random() - 0.5), 10)).then(() => durations.push(performance.now() - wasDue));
    }
    due += PROBE_INTERVAL_MS;
    setTimeout(tick, Math.max(0, due - performance.now()));
  };
  setTimeout(tick, PROBE_INTERVAL_MS);
  return durations;
}

/** The app as src/server.ts builds it, plus an event-loop delay monitor that the parent reads and resets per phase. */
async function runServer(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const services = await createServices(config, logger);
  const app = await buildApp({ config, services, logger });
  // The retrieval service's own embedder, reached past its privacy: the benchmark times its calls.
  const searches = timeSearches(app.server, (services.retrieval as unknown as { embedder: QueryEmbedder }).embedder);
  if (!(services.store instanceof EmbeddedStore)) throw new Error('bench:load measures the embedded store: unset VECTOR_STORE');
  const hnsw = services.store.hnsw;
  const storeSearches = probeStoreSearches(hnsw);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const delay = (nanoseconds: number) => Math.max(0, nanoseconds / 1e6 - LOOP_RESOLUTION_MS);
  answerRequests(async (request: { type: 'phase' | 'vectors' }): Promise<ServerPhase | VectorState> => {
    if (request.type === 'phase') {
      const reading = {
        loop: { p50: delay(loop.percentile(50)), p99: delay(loop.percentile(99)), max: delay(loop.max) },
        searches: summarize(searches.durations.splice(0)),
        beyondEmbedding: summarize(searches.beyondEmbedding.splice(0)),
        store: summarize(storeSearches.splice(0)),
      };
      loop.reset();
      return reading;
    }
    const collection = hnsw.get(DEFAULT_COLLECTION);
    return { chunks: collection?.chunkCount ?? 0, ...(collection?.vectorCounts() ?? { exact: 0, graph: 0 }) };
  });
  announce({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
}

// ---- load ------------------------------------------------------------------------------------

interface SearchSamples {
  latencies: number[];
  failures: number;
  skipped: number;
}

/**
 * Sends searches on a fixed schedule whatever the answers' pace (open loop), so a slow answer
 * cannot hide later ones: each latency is measured from its scheduled send.
 */
class SteadySearches {
  private readonly samples: SearchSamples = { latencies: [], failures: 0, skipped: 0 };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly random = seededRandom(7);
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly base: string) {}

  start(): void {
    this.timer = setInterval(() => this.send(), 1000 / SEARCHES_PER_SECOND);
  }

  async stop(): Promise<SearchSamples> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
    return this.samples;
  }

  private send(): void {
    if (this.inFlight.size >= MAX_SEARCHES_IN_FLIGHT) {
      this.samples.skipped += 1;
      return;
    }
    const started = performance.now();
    const search = postJson(`${this.base}/v1/search`, { query: randomWords(this.random, 6), k: 10 }).then(
      () => {
        this.samples.latencies.push(performance.now() - started);
      },
      () => {
        this.samples.failures += 1;
      },
    );
    this.inFlight.add(search);
    void search.finally(() => this.inFlight.delete(search));
  }
}

interface IngestResponse {
  documents: Array<{ chunks: number }>;
}

/** POSTs documents, a few requests in flight, until at least `chunks` chunks are stored; returns how many were. */
async function ingest(base: string, chunks: number, seed: number): Promise<number> {
  const random = seededRandom(seed);
  const deadline = performance.now() + INGEST_TIMEOUT_MS;
  let stored = 0;
  let next = 0;
  const worker = async () => {
    while (stored < chunks && performance.now() < deadline) {
      const first = next;
      next += DOCUMENTS_PER_REQUEST;
      const documents = Array.from({ length: DOCUMENTS_PER_REQUEST }, (_, offset) => ({
        id: `s${seed}-d${first + offset}`,
        text: randomWords(random, WORDS_PER_DOCUMENT),
      }));
      const reply = await postJson<IngestResponse>(`${base}/v1/documents`, { documents });
      stored += reply.documents.reduce((sum, document) => sum + document.chunks, 0);
    }
  };
  await Promise.all(Array.from({ length: INGEST_CONCURRENCY }, worker));
  if (stored < chunks) throw new Error(`ingest stopped at ${stored} of ${chunks} chunks after ${INGEST_TIMEOUT_MS} ms`);
  return stored;
}

interface Phase {
  name: string;
  ms: number;
  searches: SearchSamples;
  server: ServerPhase;
}

/** Runs `work` while searches flow, and reads the server's event-loop delay over exactly that time. */
async function phase(name: string, server: ChildProcess, base: string, work: () => Promise<void>): Promise<Phase> {
  progress(`phase: ${name}`);
  const searches = new SteadySearches(base);
  await ask<ServerPhase>(server, { type: 'phase' });
  const started = performance.now();
  searches.start();
  await work();
  const samples = await searches.stop();
  const elapsed = performance.now() - started;
  return { name, ms: elapsed, searches: samples, server: await ask<ServerPhase>(server, { type: 'phase' }) };
}

/** Waits until no chunk waits for the graph; resolves at once when the collection is within the exact tier's threshold. */
async function graphCaughtUp(server: ChildProcess, threshold: number): Promise<VectorState> {
  const deadline = performance.now() + INDEXING_TIMEOUT_MS;
  for (;;) {
    const state = await ask<VectorState>(server, { type: 'vectors' });
    if (state.chunks <= threshold || state.exact === 0) return state;
    if (performance.now() > deadline) throw new Error(`graph indexing had not caught up after ${INDEXING_TIMEOUT_MS} ms`);
    await sleep(VECTOR_POLL_MS);
  }
}

// ---- report ----------------------------------------------------------------------------------

interface Results {
  phases: Phase[];
  ingested: number;
  ingestMs: number;
  threshold: number;
  final: VectorState;
  indexingMs: number | undefined;
}

function phaseRow(phase: Phase, baseline: Phase): Array<string | number> {
  const search = summarize(phase.searches.latencies);
  const base = summarize(baseline.searches.latencies);
  return [
    phase.name,
    (phase.ms / 1000).toFixed(1),
    count(search.count),
    phase.searches.failures + phase.searches.skipped,
    ms(search.p50),
    ms(search.p99),
    ms(search.max),
    ratio(search.p99, base.p99),
    ms(phase.server.searches.p99),
    ms(phase.server.beyondEmbedding.p99),
    ms(phase.server.store.p99),
    ms(phase.server.loop.p99),
    ms(phase.server.loop.max),
  ];
}

function report(results: Results): string {
  const [baseline] = results.phases as [Phase];
  const loaded = results.phases.filter((phase) => phase.name.startsWith('during'));
  const worstP99 = Math.max(...loaded.map((phase) => summarize(phase.searches.latencies).p99));
  const worstLoop = Math.max(...loaded.map((phase) => phase.server.loop.p99));
  const worstOwn = Math.max(...loaded.map((phase) => phase.server.beyondEmbedding.p99));
  const crossed = results.final.graph > 0;
  return [
    `Parameters: ingest of ${count(INGEST_CHUNKS)} chunks (stopped at ${count(results.ingested)}: whole requests) through POST /v1/documents, ` +
      `${DOCUMENTS_PER_REQUEST} documents of ~${WORDS_PER_DOCUMENT} words (~3 chunks at CHUNK_SIZE 1000) per request, ${INGEST_CONCURRENCY} requests in flight, ` +
      `into a collection seeded with ${count(SEED_CHUNKS)} chunks; EXACT_SEARCH_MAX_CHUNKS ${count(results.threshold)}. ` +
      `Embedding NIM: the NIM emulator (${DIMENSIONS} dimensions, ${EMBED_LATENCY_MS} ms + ${EMBED_LATENCY_PER_INPUT_MS} ms per input, no concurrency cap) in its own process; ` +
      'LLM_PROVIDER=local. The app (createServices + buildApp, as src/server.ts) runs in its own process on 127.0.0.1 and measures its event-loop delay ' +
      `(perf_hooks.monitorEventLoopDelay, ${LOOP_RESOLUTION_MS} ms timer, the timer interval subtracted). ` +
      `Searches (POST /v1/search, k 10, each embeds its query at the NIM) are sent from the benchmark process at ${SEARCHES_PER_SECOND}/s on a fixed schedule (open loop); ` +
      `the server process also searches the store directly every ${PROBE_INTERVAL_MS} ms with a random vector, each timed from when it was due (event-loop lateness + store search, no NIM). ` +
      '"Beyond the query embedding" is the server-side time of a search less the time of its query\'s embedding call, timed inside the server: the service\'s own share.',
    '',
    markdownTable(
      ['phase', 'seconds', 'searches', 'failed or skipped', 'search p50 ms', 'search p99 ms', 'search max ms', 'p99 ÷ baseline p99', 'server-side search p99 ms', 'server-side beyond the query embedding p99 ms', 'in-process store search p99 ms', 'event-loop delay p99 ms', 'event-loop delay max ms'],
      results.phases.map((phase) => phaseRow(phase, baseline)),
    ),
    '',
    `- Ingest of ${count(results.ingested)} chunks: ${(results.ingestMs / 1000).toFixed(1)} s (${count(Math.round(results.ingested / (results.ingestMs / 1000)))} chunks/s).`,
    crossed
      ? `- The collection crossed EXACT_SEARCH_MAX_CHUNKS; background graph indexing caught up ${((results.indexingMs ?? 0) / 1000).toFixed(1)} s after the last ingest reply (graph ${count(results.final.graph)}, exact tier ${count(results.final.exact)}).`
      : `- The collection stayed within EXACT_SEARCH_MAX_CHUNKS (${count(results.final.chunks)} chunks): no graph was built.`,
    `- Target p99 search ≤ ${TARGET_P99_MS} ms while ingesting (worst loaded phase: ${ms(worstP99)} ms): ${worstP99 <= TARGET_P99_MS ? 'met' : 'missed'}.`,
    `- Target for the service's own share while ingesting, event-loop delay p99 and server-side time beyond the query embedding p99 each < ${TARGET_OWN_MS} ms (worst loaded phase: ${ms(worstLoop)} ms and ${ms(worstOwn)} ms): ${worstLoop < TARGET_OWN_MS && worstOwn < TARGET_OWN_MS ? 'met' : 'missed'}.`,
  ].join('\n');
}

// ---- main ------------------------------------------------------------------------------------

async function runPhases(server: ChildProcess, base: string, threshold: number): Promise<Results> {
  await ingest(base, SEED_CHUNKS, 1);
  await graphCaughtUp(server, threshold);
  const phases = [await phase('before: no ingest (baseline)', server, base, () => sleep(QUIET_PHASE_MS))];
  let ingested = 0;
  phases.push(
    await phase(`during ingest of ${count(INGEST_CHUNKS)} chunks`, server, base, async () => {
      ingested = await ingest(base, INGEST_CHUNKS, 2);
    }),
  );
  const ingestMs = (phases.at(-1) as Phase).ms;
  let final = await ask<VectorState>(server, { type: 'vectors' });
  let indexingMs: number | undefined;
  if (final.chunks > threshold && final.exact > 0) {
    phases.push(
      await phase('during background graph indexing', server, base, async () => {
        final = await graphCaughtUp(server, threshold);
      }),
    );
    indexingMs = (phases.at(-1) as Phase).ms;
  }
  phases.push(await phase('after: no ingest, full collection', server, base, () => sleep(QUIET_PHASE_MS)));
  return { phases, ingested, ingestMs, threshold, final, indexingMs };
}

async function main(): Promise<void> {
  const dataDir = await temporaryDir('bench-load-');
  // The embedding NIM in a process of its own, so that its work lands on neither the server's nor the client's event loop.
  let nim: Process | undefined;
  let server: ChildProcess | undefined;
  try {
    nim = await startNim({
      models: [EMBEDDING_MODEL],
      dimensions: DIMENSIONS,
      embedLatencyMs: EMBED_LATENCY_MS,
      embedLatencyPerInputMs: EMBED_LATENCY_PER_INPUT_MS,
    });
    const nimUrl = nim.url;
    const env = {
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      EMBEDDINGS_PROVIDER: 'nim',
      NIM_EMBEDDINGS_URL: nimUrl,
      NIM_EMBEDDINGS_MODEL: EMBEDDING_MODEL,
      LLM_PROVIDER: 'local',
      ...(EXACT_SEARCH_MAX_CHUNKS === undefined ? {} : { EXACT_SEARCH_MAX_CHUNKS: String(EXACT_SEARCH_MAX_CHUNKS) }),
    };
    server = startRole(SCRIPT, 'server', { env });
    const { url: base } = await announcement<{ url: string }>(server);
    const results = await runPhases(server, base, loadConfig(env).hnsw.exactSearchMaxChunks);
    const body = report(results);
    print(body);
    await writeResultsSection({ id: 'bench:load', title: 'Searches during a large ingest (bench:load)', body });
  } finally {
    if (server) await stopChild(server);
    await stop(nim);
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (flags.role === 'server') await runServer();
else await main();
