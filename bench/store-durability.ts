import { type ChildProcess, spawn } from 'node:child_process';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { LOCAL_EMBEDDINGS_MODEL } from '../src/local/lexical-embeddings.js';
import { contentHash, type DocumentWrite, type HnswParameters } from '../src/store/hnsw-collection.js';
import { HnswStore } from '../src/store/hnsw-store.js';
import { encodeMutations } from '../src/store/mutation-codec.js';
import {
  announce,
  announcement,
  answerRequests,
  ask,
  benchFlags,
  count,
  freePort,
  markdownTable,
  median,
  ms,
  postJson,
  print,
  progress,
  randomUnitVectors,
  randomWords,
  ratio,
  REPOSITORY_ROOT,
  seededRandom,
  silentLogger,
  startRole,
  stopChild,
  summarize,
  temporaryDir,
  timed,
  writeResultsSection,
} from './support.js';

/**
 * bench:durability — what durability costs: acknowledged-write latency beside the disk's own fsync
 * floor, the real server's restart time to ready over a large store (from a snapshot, and with a
 * log to replay after kill -9), and resident memory per stored vector.
 */

const flags = benchFlags();
const VECTORS = flags.quick ? 20_000 : 100_000;
const DIMENSIONS = 1024;
const WRITES = flags.quick ? 50 : 300;
const RESTARTS = flags.quick ? 2 : 5;
/** Chunks written, then left unsnapshotted by kill -9, for the restart that must replay the log. */
const REPLAY_CHUNKS = flags.quick ? 1000 : 5000;
const BUILD_BATCH = 1000;
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 10;
const READY_REQUEST_TIMEOUT_MS = 2000;
const SERVER_LOG_TAIL = 15;
const TARGET_READY_MS = 3000;

/** The environment of a server whose store manifest matches what this benchmark builds. */
const SERVER_ENV = {
  EMBEDDINGS_PROVIDER: 'local',
  LLM_PROVIDER: 'local',
  LOCAL_EMBEDDINGS_DIMENSIONS: String(DIMENSIONS),
};
const config = loadConfig(SERVER_ENV);
const SCRIPT = fileURLToPath(import.meta.url);

function openStore(dataDir: string, hnsw: HnswParameters = config.hnsw): Promise<HnswStore> {
  return HnswStore.open({
    dataDir,
    hnsw,
    embeddingModel: LOCAL_EMBEDDINGS_MODEL,
    embeddingDimensions: DIMENSIONS,
    logger: silentLogger,
    snapshotEveryChunks: config.snapshots.everyChunks,
    snapshotIntervalMs: config.snapshots.intervalMs,
  });
}

function vectorWrite(id: string, vector: number[]): DocumentWrite {
  const text = `document ${id}`;
  return { id, text, metadata: {}, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]], vectors: [vector] };
}

// ---- (a) acknowledged-write latency ----------------------------------------------------------

interface WriteLatency {
  store: number[];
  floor: number[];
  frameBytes: number;
}

/** The bytes the store's log appends for one write: the floor appends and fsyncs exactly these. */
function logFrame(write: DocumentWrite, label: number): Buffer {
  const stamp = new Date().toISOString();
  const { id, text, metadata, contentHash: hash, spans } = write;
  const document = { id, text, metadata, contentHash: hash, spans, createdAt: stamp, updatedAt: stamp };
  return encodeMutations([{ op: 'put', document, labels: [label], vectors: Float32Array.from(write.vectors[0] as number[]) }]);
}

async function appendAndSync(handle: FileHandle, bytes: Buffer): Promise<void> {
  await handle.write(bytes);
  await handle.datasync();
}

/**
 * Single one-chunk writes through the store, alternated with appending the same bytes to a plain
 * file in the same directory and fdatasync-ing it: the disk's floor, measured under the same noise.
 */
async function measureWriteLatency(): Promise<WriteLatency> {
  const dataDir = await temporaryDir('bench-durability-writes-');
  const store = await openStore(dataDir);
  const collection = await store.getOrCreate('default');
  const floorFile = await open(join(dataDir, 'floor.log'), 'a');
  const vectors = randomUnitVectors(WRITES, DIMENSIONS, 11);
  const result: WriteLatency = { store: [], floor: [], frameBytes: 0 };
  for (let row = 0; row < WRITES; row++) {
    const write = vectorWrite(`write-${row}`, vectors.row(row));
    const frame = logFrame(write, row);
    result.frameBytes = frame.length;
    const storeWrite = () => timed(() => collection.upsert([write]));
    const floorWrite = () => timed(() => appendAndSync(floorFile, frame));
    const [first, second] = row % 2 === 0 ? [storeWrite, floorWrite] : [floorWrite, storeWrite];
    const [a, b] = [await first(), await second()];
    result.store.push((row % 2 === 0 ? a : b).ms);
    result.floor.push((row % 2 === 0 ? b : a).ms);
  }
  await floorFile.close();
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
  return result;
}

// ---- (b) restart to ready --------------------------------------------------------------------

/** Writes `size` random vectors through the store, waits for the graph, and closes (a snapshot, nothing to replay). */
async function buildDataDir(size: number, hnsw: HnswParameters): Promise<{ dataDir: string; ms: number }> {
  const dataDir = await temporaryDir('bench-durability-store-');
  const { ms: buildMs } = await timed(async () => {
    const store = await openStore(dataDir, hnsw);
    const collection = await store.getOrCreate('default');
    for (let start = 0; start < size; start += BUILD_BATCH) {
      const vectors = randomUnitVectors(Math.min(BUILD_BATCH, size - start), DIMENSIONS, 1000 + start);
      await collection.upsert(Array.from({ length: vectors.size }, (_, offset) => vectorWrite(`v${start + offset}`, vectors.row(offset))));
    }
    await collection.indexed();
    await store.close();
  });
  return { dataDir, ms: buildMs };
}

interface Started {
  child: ChildProcess;
  base: string;
  readyMs: number;
  /** From the server's own 'collection opened' log line: time to load the snapshot and replay the log. */
  openMs: number | undefined;
  replayed: number | undefined;
}

interface OpenedLine {
  ms?: number;
  replayedMutations?: number;
}

/** The server's JSON log lines: its 'collection opened' line, and the last few lines to explain a failed start. */
class ServerLog {
  opened: OpenedLine | undefined;
  private readonly recent: string[] = [];
  private buffered = '';

  constructor(child: ChildProcess) {
    child.stdout?.on('data', (data: Buffer) => this.take(data.toString()));
  }

  tail(): string {
    return this.recent.join('\n');
  }

  private take(text: string): void {
    const lines = (this.buffered + text).split('\n');
    this.buffered = lines.pop() ?? '';
    for (const line of lines) {
      this.recent.push(line.slice(0, 400));
      if (this.recent.length > SERVER_LOG_TAIL) this.recent.shift();
      if (line.includes('"collection opened"')) this.opened = JSON.parse(line) as OpenedLine;
    }
  }
}

/** The readiness endpoint's status, or why it could not be asked (not listening yet). */
async function readiness(base: string): Promise<number | string> {
  try {
    const response = await fetch(`${base}/v1/health/ready`, { signal: AbortSignal.timeout(READY_REQUEST_TIMEOUT_MS) });
    await response.body?.cancel();
    return response.status;
  } catch (error) {
    return String((error as { cause?: { code?: string } }).cause?.code ?? error);
  }
}

/** Spawns the real server (`node --import tsx src/server.ts`) and times spawn → GET /v1/health/ready answering 200. */
async function startServer(dataDir: string): Promise<Started> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, ...SERVER_ENV, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const log = new ServerLog(child);
  let last: number | string = 'not asked';
  while (performance.now() - started < READY_TIMEOUT_MS) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before it was ready:\n${log.tail()}`);
    last = await readiness(base);
    if (last === 200) {
      return { child, base, readyMs: performance.now() - started, openMs: log.opened?.ms, replayed: log.opened?.replayedMutations };
    }
    await sleep(READY_POLL_MS);
  }
  await stopChild(child, 'SIGKILL');
  throw new Error(`server over ${dataDir} was not ready within ${READY_TIMEOUT_MS} ms (last answer: ${last}):\n${log.tail()}`);
}

async function killHard(server: Started): Promise<void> {
  await stopChild(server.child, 'SIGKILL');
}

/** Starts and kills the server `RESTARTS` times over the same DATA_DIR. */
async function restarts(dataDir: string): Promise<Started[]> {
  const runs: Started[] = [];
  for (let run = 0; run < RESTARTS; run++) {
    const server = await startServer(dataDir);
    runs.push(server);
    await killHard(server);
  }
  return runs;
}

/** Ingests chunks over HTTP (acknowledged, so in the fsynced log) and kills the server before any snapshot takes them. */
async function leaveLogToReplay(dataDir: string, chunks: number): Promise<void> {
  const server = await startServer(dataDir);
  const random = seededRandom(21);
  const perRequest = 100;
  for (let sent = 0; sent < chunks; sent += perRequest) {
    const documents = Array.from({ length: Math.min(perRequest, chunks - sent) }, (_, offset) => ({
      id: `replayed-${sent + offset}`,
      text: randomWords(random, 40),
    }));
    await postJson(`${server.base}/v1/documents`, { documents, chunking: false });
  }
  await killHard(server);
}

// ---- (c) resident memory per vector ----------------------------------------------------------

interface MemoryReading {
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  exact: number;
  graph: number;
}

/** In a fresh process (`--expose-gc`): RSS after gc, before and after opening a DATA_DIR. */
async function readMemory(request: { dataDir: string; hnsw: HnswParameters }): Promise<MemoryReading> {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('the memory helper needs node --expose-gc');
  const settle = () => {
    collect();
    collect();
    return process.memoryUsage();
  };
  const before = settle();
  const store = await openStore(request.dataDir, request.hnsw);
  const counts = store.get('default')?.vectorCounts() ?? { exact: 0, graph: 0 };
  const after = settle();
  await store.close();
  return { rssBefore: before.rss, rssAfter: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed, ...counts };
}

async function measureMemory(dataDir: string, hnsw: HnswParameters): Promise<MemoryReading> {
  const child = startRole(SCRIPT, 'memory', { execArgv: ['--expose-gc'] });
  try {
    await announcement(child);
    return await ask<MemoryReading>(child, { dataDir, hnsw });
  } finally {
    await stopChild(child);
  }
}

// ---- report ----------------------------------------------------------------------------------

interface Results {
  writes: WriteLatency;
  buildMs: number;
  empty: Started[];
  snapshot: Started[];
  replay: Started[];
  graphMemory: MemoryReading;
  exactMemory: MemoryReading;
}

function writeSection(writes: WriteLatency): string {
  const store = summarize(writes.store);
  const floor = summarize(writes.floor);
  return [
    `### Acknowledged write latency (${WRITES} single writes of 1 document, 1 chunk, ${DIMENSIONS} dimensions; log frame ${count(writes.frameBytes)} bytes)`,
    '',
    markdownTable(
      ['what', 'p50 ms', 'p99 ms', 'max ms'],
      [
        ['store: collection.upsert (log append + fdatasync, then apply)', ms(store.p50), ms(store.p99), ms(store.max)],
        ['disk floor: append the same bytes to a file + fdatasync', ms(floor.p50), ms(floor.p99), ms(floor.max)],
        ['ratio store ÷ floor', ratio(store.p50, floor.p50), ratio(store.p99, floor.p99), ''],
      ],
    ),
  ].join('\n');
}

function restartRow(name: string, runs: Started[]): Array<string | number> {
  const ready = runs.map((run) => run.readyMs);
  const opened = runs.map((run) => run.openMs).filter((value): value is number => value !== undefined);
  const replayed = runs[0]?.replayed;
  return [
    name,
    ms(median(ready)),
    ms(Math.max(...ready)),
    opened.length > 0 ? ms(median(opened)) : '–',
    replayed === undefined ? '–' : count(replayed),
    Math.max(...ready) <= TARGET_READY_MS ? 'met' : 'missed',
  ];
}

function restartSection(results: Results): string {
  const emptyMedian = median(results.empty.map((run) => run.readyMs));
  return [
    `### Restart to ready (\`node --import tsx src/server.ts\`, spawn → GET /v1/health/ready = 200, ${RESTARTS} starts each)`,
    '',
    `DATA_DIR built through the store API with ${count(VECTORS)} random ${DIMENSIONS}-dimensional vectors at the defaults ` +
      `(embedding model ${LOCAL_EMBEDDINGS_MODEL}, as EMBEDDINGS_PROVIDER=local configures), graph caught up, closed cleanly: ` +
      `built in ${(results.buildMs / 1000).toFixed(0)} s. The replay case adds ${count(REPLAY_CHUNKS)} one-chunk documents over HTTP, then kill -9.`,
    '',
    markdownTable(
      ['start', 'median ms', 'max ms', 'store open ms (server log, median)', 'log mutations replayed', `target ≤ ${TARGET_READY_MS} ms`],
      [
        restartRow('empty DATA_DIR (process + tsx + app floor)', results.empty),
        restartRow(`${count(VECTORS)} vectors, from the snapshot`, results.snapshot),
        restartRow(`${count(VECTORS)} vectors + ${count(REPLAY_CHUNKS)} chunks to replay after kill -9`, results.replay),
      ],
    ),
    '',
    `Snapshot start ÷ empty start: ${ratio(median(results.snapshot.map((run) => run.readyMs)), emptyMedian)}; ` +
      `replay start ÷ empty start: ${ratio(median(results.replay.map((run) => run.readyMs)), emptyMedian)}.`,
  ].join('\n');
}

function memoryRow(name: string, reading: MemoryReading, expected: number): Array<string | number> {
  const vectors = reading.exact + reading.graph;
  const perVector = (reading.rssAfter - reading.rssBefore) / vectors;
  const heapPerVector = (reading.heapAfter - reading.heapBefore) / vectors;
  return [name, count(vectors), count(Math.round(perVector)), count(Math.round(heapPerVector)), count(expected), ratio(perVector, expected)];
}

function memorySection(results: Results): string {
  const m = config.hnsw.m;
  const graphExpected = DIMENSIONS * 4 + m * 8;
  const exactExpected = DIMENSIONS * 4;
  return [
    '### Resident memory per vector (a fresh `node --expose-gc` process opens the DATA_DIR; RSS after gc, minus RSS before)',
    '',
    markdownTable(
      ['tier', 'vectors', 'RSS bytes / vector', 'of which JS heap', 'reference bytes / vector', 'measured ÷ reference'],
      [
        memoryRow(`HNSW graph (reference dim×4 + M×8, M ${m})`, results.graphMemory, graphExpected),
        memoryRow('exact tier (reference dim×4: the vector in WebAssembly memory)', results.exactMemory, exactExpected),
      ],
    ),
  ].join('\n');
}

function report(results: Results): string {
  return [
    `Parameters: ${count(VECTORS)} vectors of ${DIMENSIONS} dimensions; HNSW M ${config.hnsw.m}, efConstruction ${config.hnsw.efConstruction}; ` +
      `${WRITES} single writes; ${RESTARTS} starts per case. Temporary directories on the same disk as the repository.`,
    '',
    writeSection(results.writes),
    '',
    restartSection(results),
    '',
    memorySection(results),
  ].join('\n');
}

// ---- main ------------------------------------------------------------------------------------

/** Every measurement, as the report; the DATA_DIRs it builds are removed however it ends. */
async function measureAll(): Promise<string> {
  progress(`acknowledged writes: ${WRITES}, alternated with the disk floor`);
  const writes = await measureWriteLatency();

  const dirs: string[] = [];
  try {
    progress(`building a DATA_DIR of ${count(VECTORS)} vectors (graph at the defaults)`);
    const graphDir = await buildDataDir(VECTORS, config.hnsw);
    dirs.push(graphDir.dataDir);
    const emptyDir = await temporaryDir('bench-durability-empty-');
    dirs.push(emptyDir);
    progress('restarts: empty DATA_DIR, then from the snapshot');
    const empty = await restarts(emptyDir);
    const snapshot = await restarts(graphDir.dataDir);
    progress('memory: graph tier');
    const graphMemory = await measureMemory(graphDir.dataDir, config.hnsw);
    progress(`restarts with ${count(REPLAY_CHUNKS)} chunks to replay`);
    await leaveLogToReplay(graphDir.dataDir, REPLAY_CHUNKS);
    progress('restarts: replaying the log');
    const replay = await restarts(graphDir.dataDir);

    progress(`memory: exact tier (building a DATA_DIR of ${count(VECTORS)} vectors kept out of the graph)`);
    const exactHnsw = { ...config.hnsw, exactSearchMaxChunks: VECTORS, maxIndexBacklog: VECTORS };
    const exactDir = await buildDataDir(VECTORS, exactHnsw);
    dirs.push(exactDir.dataDir);
    const exactMemory = await measureMemory(exactDir.dataDir, exactHnsw);
    return report({ writes, buildMs: graphDir.ms, empty, snapshot, replay, graphMemory, exactMemory });
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const body = await measureAll();
  print(body);
  await writeResultsSection({ id: 'bench:durability', title: 'Durability: write latency, restart, memory (bench:durability)', body });
}

if (flags.role === 'memory') {
  answerRequests(readMemory);
  announce({ ready: true });
} else {
  await main();
}
