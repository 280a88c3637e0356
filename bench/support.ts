import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';

/** Helpers shared by the benchmarks: flags, statistics, synthetic vectors, child processes, RESULTS.md. */

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPOSITORY_ROOT = dirname(BENCH_DIR);
const RESULTS_FILE = join(BENCH_DIR, 'RESULTS.md');

export const silentLogger = pino({ level: 'silent' });

// ---- command line ----------------------------------------------------------------------------

export interface BenchFlags {
  /** A small size that checks the benchmark works in about a minute or less. */
  quick: boolean;
  /** Set when the script was started by itself as a helper process (see `startRole`). */
  role: string | undefined;
}

export function benchFlags(): BenchFlags {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, role: { type: 'string' } },
    strict: true,
  });
  return { quick: values.quick, role: values.role };
}

// ---- output ----------------------------------------------------------------------------------

/** Progress goes to stderr, so stdout carries only the result tables. */
export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function markdownTable(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Milliseconds, with the precision that matters at their size. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function ratio(numerator: number, denominator: number): string {
  if (!(denominator > 0) || !Number.isFinite(numerator)) return 'n/a';
  const value = numerator / denominator;
  return value >= 10 ? `${value.toFixed(0)}×` : `${value.toFixed(2)}×`;
}

export function count(value: number): string {
  return value.toLocaleString('en-US');
}

// ---- statistics ------------------------------------------------------------------------------

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

/** Runs `work` and returns its result with the milliseconds it took. */
export async function timed<T>(work: () => Promise<T> | T): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

// ---- synthetic vectors -----------------------------------------------------------------------

/** mulberry32: a small seeded generator, so every run (and every system compared) sees the same data. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller). */
export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Row-major vectors of one size; rows are handed out as the plain arrays the vector APIs take. */
export class VectorSet {
  constructor(
    readonly dimensions: number,
    readonly data: Float32Array,
  ) {}

  get size(): number {
    return this.data.length / this.dimensions;
  }

  row(index: number): number[] {
    return Array.from(this.data.subarray(index * this.dimensions, (index + 1) * this.dimensions));
  }

  rows(start: number, end: number): number[][] {
    return Array.from({ length: end - start }, (_, offset) => this.row(start + offset));
  }
}

function normalizeRow(data: Float32Array, offset: number, dimensions: number): void {
  let sum = 0;
  for (let i = offset; i < offset + dimensions; i++) sum += (data[i] as number) ** 2;
  const scale = 1 / Math.sqrt(sum);
  for (let i = offset; i < offset + dimensions; i++) data[i] = (data[i] as number) * scale;
}

/** Gaussian vectors scaled to unit length: uniform on the sphere, the hardest case for any graph index. */
export function randomUnitVectors(size: number, dimensions: number, seed: number): VectorSet {
  const normal = gaussian(seededRandom(seed));
  const data = new Float32Array(size * dimensions);
  for (let i = 0; i < data.length; i++) data[i] = normal();
  for (let row = 0; row < size; row++) normalizeRow(data, row * dimensions, dimensions);
  return new VectorSet(dimensions, data);
}

export interface ClusterShape {
  /** The points' centres: unit vectors, shared by the points and the queries drawn around them. */
  centres: VectorSet;
  /** Length of the noise added to a centre, relative to the centre's unit length. */
  noise: number;
}

/** Points drawn around random centres (centre + Gaussian noise, then unit length), as embeddings of topical texts cluster. */
export function clusteredVectors(size: number, shape: ClusterShape, seed: number): VectorSet {
  const { centres, noise } = shape;
  const dimensions = centres.dimensions;
  const random = seededRandom(seed);
  const normal = gaussian(random);
  const sigma = noise / Math.sqrt(dimensions);
  const data = new Float32Array(size * dimensions);
  for (let row = 0; row < size; row++) {
    const centre = Math.floor(random() * centres.size) * dimensions;
    const offset = row * dimensions;
    for (let i = 0; i < dimensions; i++) data[offset + i] = (centres.data[centre + i] as number) + sigma * normal();
    normalizeRow(data, offset, dimensions);
  }
  return new VectorSet(dimensions, data);
}

// ---- synthetic text ------------------------------------------------------------------------

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'ze', 'pa', 'qu', 'do', 'fe', 'gi', 'hu', 'jo'];

/** Pronounceable pseudo-words from a vocabulary of `vocabulary` words, so lexical embeddings and queries have overlap to find. */
export function randomWords(random: () => number, words: number, vocabulary = 5000): string {
  return Array.from({ length: words }, () => {
    let index = Math.floor(random() ** 2 * vocabulary);
    let word = '';
    do {
      word += SYLLABLES[index % SYLLABLES.length] as string;
      index = Math.floor(index / SYLLABLES.length);
    } while (index > 0);
    return word;
  }).join(' ');
}

// ---- HTTP ------------------------------------------------------------------------------------

/** A loopback port nothing listens on: bound by the system, then released for a server about to start. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** POSTs JSON and returns the parsed reply; anything but 2xx is an error naming the status and body. */
export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

// ---- machine and files -----------------------------------------------------------------------

function machineDescription(): string {
  const cores = cpus();
  return `${cores[0]?.model ?? 'unknown CPU'}, ${cores.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function temporaryDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface ResultsSection {
  /** Stable key of the section, e.g. `bench:search`; the markers around it carry it. */
  id: string;
  title: string;
  /** Markdown under the title, after the machine and date lines. */
  body: string;
}

/**
 * Writes (or replaces) one benchmark's section of bench/RESULTS.md, leaving the other sections as
 * they are. A `--quick` run only checks that the benchmark works, so it leaves the file alone.
 */
export async function writeResultsSection(section: ResultsSection): Promise<void> {
  if (benchFlags().quick) {
    progress('quick run: bench/RESULTS.md left as it is');
    return;
  }
  const start = `<!-- ${section.id}:start -->`;
  const end = `<!-- ${section.id}:end -->`;
  const block = [
    start,
    `## ${section.title}`,
    '',
    `Machine: ${machineDescription()}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run ${section.id}\`.`,
    '',
    section.body.trim(),
    end,
  ].join('\n');
  const current = await readFile(RESULTS_FILE, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '# Benchmark results\n';
    throw error;
  });
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next =
    from >= 0 && to > from
      ? `${current.slice(0, from)}${block}${current.slice(to + end.length)}`
      : `${current.trimEnd()}\n\n${block}\n`;
  await writeFile(RESULTS_FILE, next);
}

// ---- helper processes ------------------------------------------------------------------------

interface Envelope {
  id: number;
  payload: unknown;
}

/**
 * Starts this script again as a helper process in the given role (`--role`), with an IPC channel.
 * Helpers keep their work off the benchmark's own event loop, or give it a fresh heap to measure.
 */
export function startRole(script: string, role: string, options: { env?: NodeJS.ProcessEnv; execArgv?: string[] } = {}): ChildProcess {
  return fork(script, ['--role', role], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, ...options.env },
    execArgv: [...(options.execArgv ?? []), '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The next message a helper sends of its own accord (its announcement), or a rejection if it exits first. */
export async function announcement<T>(child: ChildProcess): Promise<T> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`helper process exited with ${String(code)} before it was ready`);
  });
  const [message] = (await Promise.race([once(child, 'message'), exited])) as [T];
  return message;
}

let nextRequestId = 0;

/** Sends a request to a helper and waits for its answer (see `answerRequests`). */
export async function ask<T>(child: ChildProcess, payload: unknown): Promise<T> {
  const id = ++nextRequestId;
  const answer = new Promise<T>((resolve, reject) => {
    const onMessage = (message: Envelope) => {
      if (message.id !== id) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message.payload as T);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`helper process exited with ${String(code)} while answering`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  child.send({ id, payload } satisfies Envelope);
  return answer;
}

/** In a helper: answers each request from the parent with what `handle` returns. */
export function answerRequests(handle: (payload: any) => unknown): void {
  process.on('message', (message: Envelope) => {
    void Promise.resolve(handle(message.payload)).then((payload) => process.send?.({ id: message.id, payload } satisfies Envelope));
  });
}

/** In a helper: tells the parent it is ready, with what the parent needs to know. */
export function announce(message: unknown): void {
  process.send?.(message);
}

/** Stops a helper and waits until it has gone. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

// ---- LangChain's HNSWLib ------------------------------------------------------------------------

const LANGCHAIN_DIR = join(BENCH_DIR, 'langchain');

/**
 * LangChain's HNSWLib class, for comparisons. @langchain/community lives in its own folder,
 * installed on first use: its optional peers conflict with the service's zod 4.
 */
export async function loadLangChainHnswLib<Constructor>(): Promise<Constructor> {
  const modules = join(LANGCHAIN_DIR, 'node_modules');
  const installed = await access(modules).then(
    () => true,
    () => false,
  );
  if (!installed) {
    progress('installing @langchain/community into bench/langchain (first run only)');
    const npm = spawn('npm', ['install', '--prefix', 'bench/langchain', '--legacy-peer-deps', '--no-audit', '--no-fund'], {
      cwd: REPOSITORY_ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const [code] = (await once(npm, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`npm install --prefix bench/langchain failed with ${String(code)}`);
  }
  const entry = join(modules, '@langchain/community/dist/vectorstores/hnswlib.js');
  const module = (await import(pathToFileURL(entry).href)) as { HNSWLib: Constructor };
  return module.HNSWLib;
}
