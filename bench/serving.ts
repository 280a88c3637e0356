import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config.js';
import { contentHash, type DocumentWrite } from '../src/store/hnsw-collection.js';
import { HnswStore } from '../src/store/hnsw-store.js';
import type { EmulatorOptions } from '../test/support/nim-emulator.js';
import { EMBED_MODEL, LLM_MODEL } from '../test/support/nim-emulator.js';
import {
  announcement,
  ask,
  BENCH_DIR,
  clusteredVectors,
  count,
  freePort,
  progress,
  randomUnitVectors,
  randomWords,
  REPOSITORY_ROOT,
  seededRandom,
  silentLogger,
  startRole,
  stopChild,
} from './support.js';

/**
 * What the serving benchmarks (bench:ingest, bench:ask, bench:rps, bench:stream) share: the NIM
 * emulator and the service in processes of their own, a store of 100,000 chunks built once and
 * kept, and load runs with autocannon.
 */

const ROLES = join(BENCH_DIR, 'roles.ts');
export const DIMENSIONS = 1024;

export interface Process {
  url: string;
  child: ChildProcess;
}

/** The NIM emulator in its own process, so that its work (embedding, serialising 1 MB batches) lands on no other event loop. */
export async function startNim(options: EmulatorOptions): Promise<Process> {
  const child = startRole(ROLES, 'nim', { env: { BENCH_NIM_OPTIONS: JSON.stringify(options) } });
  const { url } = await announcement<{ url: string }>(child);
  return { url, child };
}

/** Fastify's hello-world route in its own process: what an HTTP round trip costs with nothing behind it. */
export async function startHello(): Promise<Process> {
  const child = startRole(ROLES, 'hello');
  const { url } = await announcement<{ url: string }>(child);
  return { url, child };
}

/**
 * The service as it runs in production (src/server.ts, its process entry), configured by `env`,
 * once ready; from `root`, another checkout of it (see bench/checkout-tree.ts), when given. With
 * `nodeArgs` (--cpu-prof, say) it runs the built entry, dist/server.js, as the image does, so a
 * profile shows the shipped JavaScript rather than tsx's transforms; `npm run build` first.
 */
export async function startService(env: Record<string, string>, root = REPOSITORY_ROOT, nodeArgs?: string[]): Promise<Process> {
  const port = await freePort();
  const entry = nodeArgs ? [...nodeArgs, 'dist/server.js'] : ['--import', 'tsx', 'src/server.ts'];
  const child = spawn(process.execPath, entry, {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode} while starting`);
    const ready = await fetch(`${url}/v1/health/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (ready?.ok) return { url, child };
    if (waited > 120_000) throw new Error('the service was not ready within 120 s');
    await sleep(100);
  }
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU milliseconds (user + system, every thread) a child process has used so far, from /proc: for the service, which answers no IPC. */
export function processCpuMs(child: ChildProcess): number {
  const fields = readFileSync(`/proc/${child.pid as number}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** CPU seconds a helper process (see startNim, startHello) has used so far. */
export async function cpuSeconds(helper: Process): Promise<number> {
  const { user, system } = await ask<NodeJS.CpuUsage>(helper.child, 'cpu');
  return (user + system) / 1e6;
}

export const stop = (process: Process | undefined) => (process ? stopChild(process.child) : Promise.resolve());

/** A chat request like the one the chain sends: the example's system prompt around `k` chunks of about 100 words, then the question. */
export function chatRequestLikeTheChain(random: () => number, question: string, k: number, stream: boolean): unknown {
  const context = Array.from({ length: k }, () => randomWords(random, 100)).join('\n\n');
  return {
    model: LLM_MODEL,
    messages: [
      { role: 'system', content: `Answer using information solely based on the following context:\n<Documents>\n${context}\n</Documents>` },
      { role: 'user', content: question },
    ],
    max_tokens: 1024,
    stream,
  };
}

/**
 * A DATA_DIR holding `chunks` one-chunk documents of about 100 words with clustered
 * 1024-dimensional vectors (as real embeddings of topical texts cluster), recorded as
 * embeddings of the emulated nvidia/nv-embedqa-e5-v5, every vector in the HNSW graph. Building
 * one takes minutes, so it is kept under bench/.data and reused by later runs.
 */
export async function corpusStore(chunks: number): Promise<string> {
  const dataDir = join(BENCH_DIR, '.data', `corpus-${chunks}-${DIMENSIONS}`);
  if (await access(join(dataDir, 'manifest.json')).then(() => true, () => false)) return dataDir;
  const building = `${dataDir}.building`;
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true });
  progress(`building a ${count(chunks)}-chunk store under bench/.data (once; later runs reuse it)`);
  const started = performance.now();
  const store = await HnswStore.open({
    dataDir: building,
    // Every chunk into the graph, whatever the size (a --quick store would otherwise stay exact).
    hnsw: { ...loadConfig({}).hnsw, exactSearchMaxChunks: 0 },
    embeddingModel: EMBED_MODEL,
    embeddingDimensions: DIMENSIONS,
    logger: silentLogger,
    snapshotEveryChunks: 10_000_000,
    snapshotIntervalMs: 86_400_000,
  });
  const vectors = clusteredVectors(chunks, { centres: randomUnitVectors(1000, DIMENSIONS, 7), noise: 0.5 }, 11);
  const random = seededRandom(13);
  const collection = await store.getOrCreate('default');
  for (let start = 0; start < chunks; start += 1000) {
    const writes: DocumentWrite[] = [];
    for (let n = start; n < Math.min(chunks, start + 1000); n++) {
      const text = randomWords(random, 100);
      writes.push({ id: `doc-${n}`, text, metadata: { n }, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]], vectors: [vectors.row(n)] });
    }
    await collection.upsert(writes);
  }
  await collection.indexed();
  await store.close();
  await rename(building, dataDir);
  progress(`built in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return dataDir;
}

export interface LoadResult {
  connections: number;
  requests: number;
  /** Requests per second, averaged over the run. */
  rps: number;
  p50: number;
  p99: number;
  /** Failed connections, timeouts and answers other than 2xx. */
  failures: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** An offered rate (requests per second over all connections) and a number of requests, instead of as many as the service takes for `seconds`. */
  paced?: { rate: number; requests: number };
}

/** An autocannon run against one URL, summarised. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.paced ? { overallRate: options.paced.rate, amount: options.paced.requests } : {}),
    method: options.body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return {
    connections: options.connections,
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.errors + result.timeouts + result.non2xx,
  };
}
