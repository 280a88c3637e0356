import { readFile } from 'node:fs/promises';
import { markdownTable, print } from './support.js';

/**
 * Sums a V8 .cpuprofile (node --cpu-prof) by where the time goes in an ingest or a stream: each
 * sample is charged to the innermost frame on its stack that a category claims (so JSON.parse in
 * the embeddings client counts as the client's, a stream internal under Fastify as HTTP), and
 * samples no frame claims to "other". Optionally only the samples between two CLOCK_MONOTONIC
 * microsecond stamps (process.hrtime.bigint() / 1000n, which V8's profile clock shares on Linux),
 * so a benchmark can cut the start-up away.
 *
 *   tsx bench/cpu-profile-summary.ts FILE.cpuprofile [--from µs] [--to µs] [--per N --unit chunk --cpu-micros µs]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Category rules, tried in order on each frame from the sampled one outwards; the first frame any rule claims wins. */
const CATEGORIES: Array<{ name: string; claims: (url: string, fn: string) => boolean; fallback?: true }> = [
  { name: 'garbage collection', claims: (_url, fn) => fn === '(garbage collector)' },
  { name: 'graph insert (hnswlib addPoint)', claims: (url, fn) => fn === 'addPoint' || fn === 'resizeIndex' || (url.includes('/store/vector-index.') && fn === 'indexSome') || url.includes('/store/graph-indexer.') || url.includes('graph-worker') },
  { name: 'search (exact tier + graph)', claims: (url, fn) => fn === 'searchKnn' || (url.includes('/store/flat-vectors.') && fn === 'search') || url.includes('retrieval-service') },
  { name: 'WAL encode (JSON + vector bytes + crc32)', claims: (url) => url.includes('/store/mutation-codec.') },
  { name: 'WAL write + fdatasync', claims: (url) => url.includes('/store/write-ahead-log.') || url.includes('/store/durable-fs.') },
  { name: 'exact-tier copy + vector checks', claims: (url) => url.includes('/store/flat-vectors.') || url.includes('/store/vector-check.') || url.includes('/store/dot-products') || url.includes('wasm://') },
  { name: 'hashing (sha256/sha1)', claims: (url) => url.includes('/store/content-hash.') || url.includes('internal/crypto/hash') },
  { name: 'chunking (text splitter)', claims: (url) => url.includes('/rag/chunking.') || url.includes('@langchain/textsplitters') },
  { name: 'NIM client: reply parsing (JSON, base64)', claims: (url, fn) => url.includes('langchain-nvidia') && (url.includes('/vectors.') || fn === 'parseEmbeddings' || fn.includes('decode')) },
  { name: 'NIM client: requests, undici', claims: (url) => url.includes('langchain-nvidia') || url.includes('/undici/') || url.includes('internal/deps/undici') },
  { name: 'streaming: LangChain (messages, callbacks, runnables)', claims: (url) => url.includes('@langchain/core') || url.includes('/rag/') },
  { name: 'streaming: SSE out', claims: (url) => url.includes('@fastify/sse') || url.includes('/routes/ask') || url.includes('eventsource-parser') },
  {
    name: 'HTTP server: parse, validate, route, reply',
    claims: (url) =>
      ['/fastify/', '/find-my-way/', '/ajv/', '/avvio/', 'fastify-openapi-glue', '@fastify/', 'fast-json-stringify', 'secure-json-parse', '/light-my-request/'].some((part) => url.includes(part)) ||
      /node:_http_(server|incoming|outgoing|common)/.test(url) ||
      url.includes('/plugins/') ||
      url.includes('/routes/') ||
      url.includes('/api/'),
  },
  { name: 'store bookkeeping (upsert, registry, slices)', claims: (url) => url.includes('/store/') || url.includes('time-slices') || url.includes('async-mutex') },
  { name: 'service bookkeeping (document service, metrics, logs)', claims: (url) => url.includes('/services/') || url.includes('prom-client') || url.includes('/pino') || url.includes('/metrics.') },
  { name: 'sockets, event loop (node internals under no library)', claims: (url) => url.startsWith('node:'), fallback: true },
  { name: '(program): native code outside JS', claims: (_url, fn) => fn === '(program)', fallback: true },
];

export interface Summary {
  totalMicros: number;
  byCategory: Map<string, number>;
  /** Self time of the frames no category claimed, by function, for finding what a rule misses. */
  unclaimed: Map<string, number>;
  /** Self time by category and function, for reading what a category holds. */
  frames: Map<string, Map<string, number>>;
}

export function summarizeProfile(profile: CpuProfile, window: { from?: number; to?: number } = {}): Summary {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Node's internals (streams, sockets, buffers) count for the library that called them; only
  // stacks with no library frame at all fall back to them.
  const claimOf = (id: number, fallback: boolean) => {
    const { url, functionName } = (byId.get(id) as ProfileNode).callFrame;
    return CATEGORIES.find((category) => (category.fallback ?? false) === fallback && category.claims(url, functionName))?.name;
  };
  const innermost = (id: number, fallback: boolean): string | undefined => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const found = claimOf(at, fallback);
      if (found) return found;
    }
    return undefined;
  };
  const categoryOf = new Map<number, string | undefined>();
  const categorize = (id: number): string | undefined => {
    if (!categoryOf.has(id)) categoryOf.set(id, innermost(id, false) ?? innermost(id, true));
    return categoryOf.get(id);
  };
  const byCategory = new Map<string, number>();
  const unclaimed = new Map<string, number>();
  const frames = new Map<string, Map<string, number>>();
  let time = profile.startTime;
  let totalMicros = 0;
  // Each sample counts for one sampling interval (the median delta): the clock is wall time, and a
  // delta stretched by the thread being descheduled on a busy machine is not CPU spent where it landed.
  const sorted = [...profile.timeDeltas].sort((a, b) => a - b);
  const interval = sorted[Math.floor(sorted.length / 2)] ?? 1;
  profile.samples.forEach((id, position) => {
    time += profile.timeDeltas[position] ?? 0;
    const delta = interval;
    if ((window.from !== undefined && time < window.from) || (window.to !== undefined && time > window.to)) return;
    const { functionName, url } = (byId.get(id) as ProfileNode).callFrame;
    if (functionName === '(idle)') return;
    totalMicros += delta;
    const category = categorize(id) ?? 'other';
    byCategory.set(category, (byCategory.get(category) ?? 0) + delta);
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(dist|packages)\//, '$1/')}`;
    if (category === 'other') unclaimed.set(key, (unclaimed.get(key) ?? 0) + delta);
    const own = frames.get(category) ?? new Map<string, number>();
    own.set(key, (own.get(key) ?? 0) + delta);
    frames.set(category, own);
  });
  return { totalMicros, byCategory, unclaimed, frames };
}

/**
 * A markdown table of a summary. The profile samples the main thread on a wall clock, so on a busy
 * machine its sampled time exceeds the CPU it got; `per` spreads a measured process CPU time
 * (`cpuMicros`, every thread) over a count (chunks, tokens) by each category's share of the samples.
 */
export function summaryTable(summary: Summary, per?: { count: number; unit: string; cpuMicros: number }, topFrames = 3): string {
  const rows = [...summary.byCategory.entries()].sort((a, b) => b[1] - a[1]);
  const headers = ['where', 'sampled ms', 'share', ...(per ? [`≈ CPU µs per ${per.unit}`] : []), 'largest frames (self ms)'];
  const largest = (name: string) =>
    [...(summary.frames.get(name)?.entries() ?? [])]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topFrames)
      .map(([frame, micros]) => `${frame.replace(/\|/g, '\\|')} ${(micros / 1000).toFixed(0)}`)
      .join('; ');
  const line = (name: string, micros: number, frames: string) => [
    name,
    (micros / 1000).toFixed(0),
    `${((micros / summary.totalMicros) * 100).toFixed(1)} %`,
    ...(per ? [((per.cpuMicros * micros) / summary.totalMicros / per.count).toFixed(1)] : []),
    frames,
  ];
  return markdownTable(headers, [...rows.map(([name, micros]) => line(name, micros, largest(name))), line('**all (main thread samples; process CPU, every thread)**', summary.totalMicros, '')]);
}

export async function readProfile(path: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/cpu-profile-summary.ts FILE.cpuprofile [--from µs] [--to µs] [--per N] [--unit name] [--cpu-micros µs] [--top N]');
  const option = (name: string) => {
    const at = rest.indexOf(`--${name}`);
    return at === -1 ? undefined : rest[at + 1];
  };
  const number = (name: string) => (option(name) === undefined ? undefined : Number(option(name)));
  const summary = summarizeProfile(await readProfile(file), { from: number('from'), to: number('to') });
  const per = number('per');
  const cpuMicros = number('cpu-micros') ?? summary.totalMicros;
  print(summaryTable(summary, per ? { count: per, unit: option('unit') ?? 'unit', cpuMicros } : undefined));
  const top = [...summary.unclaimed.entries()].sort((a, b) => b[1] - a[1]).slice(0, number('top') ?? 12);
  print(`\nunclaimed ("other"), by self time:\n${top.map(([key, micros]) => `  ${(micros / 1000).toFixed(1)} ms  ${key}`).join('\n')}`);
}
