import { once } from 'node:events';
import { cp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { load, type LoadResult, type Process, processCpuMs, startService, stop } from './serving.js';
import { markdownTable, ms, percentile, progress, REPOSITORY_ROOT, seededRandom, temporaryDir } from './support.js';

/**
 * What OpenTelemetry tracing costs an answer: the service's CPU (user + system of its process
 * alone, /proc) per /v1/ask with tracing off and on. A shared machine's CPU per answer drifts by
 * ±10 % between identical runs, twice the effect sought, so the variants are measured side by side:
 *
 * - every variant is its own service, started once on its own copy of the store and kept running,
 *   and the load visits them in turn, in rounds (off, on; the next round on, off, so drift cancels);
 *   the first round warms them up and is not counted;
 * - the load is paced (open loop, the same offered rate and number of answers in every window,
 *   well below what the service can take), so both variants do the same work per answer: at
 *   saturation tracing's extra work would change how many requests each event-loop turn batches;
 * - a window's CPU is read from its start to 5.5 s after its end (while the next service's window
 *   runs), so the spans exported after it (the SDK's default batching, every 5 s) count as its
 *   own, less what the service spends idle over that time (its timers and pollers, measured for
 *   each service in a quiet spell after the warm-up: no answer's work, and the same off and on);
 *   on, spans go over OTLP/HTTP protobuf to a collector of the variant's own in the benchmark's
 *   process, which accepts and drops them (the bytes it received say the export happened);
 * - the cost is the median over rounds of each round's on / off ratio, with the interquartile
 *   range and a bootstrap 95 % confidence interval of that median: a median, as one round that
 *   another process crowded out must not move it; the interval, to say whether the target is met,
 *   missed, or not told apart by this machine.
 *
 * With more than one tree (a baseline checkout beside this one) every tree runs its own off and on
 * services in the same rounds, so their costs are compared under the same load.
 */

const TARGET_CPU_SHARE = 0.05;
/** The SDK's default scheduled delay of the batch span processor: a window's last spans are exported within it. */
const EXPORT_DELAY_MS = 5000;
const TAIL_MS = EXPORT_DELAY_MS + 500;
const IDLE_MS = 8000;
const BOOTSTRAP_SAMPLES = 4000;

/**
 * The rounds bench:ask and bench:tracing run: an offered rate well under what one service takes
 * on two cores (about a fifth of a core), and enough rounds for the median of their ratios to settle.
 */
export function tracingLoad(quick: boolean): Pick<TracingCostOptions, 'rate' | 'answers' | 'rounds' | 'connections'> {
  return { rate: 30, answers: quick ? 150 : 240, rounds: quick ? 10 : 16, connections: 16 };
}

export interface TracingTree {
  name: string;
  root: string;
}

export interface TracingCostOptions {
  /** The service's environment, as the rest of the benchmark runs it (DATA_DIR is copied per service). */
  env: Record<string, string>;
  url: string;
  body: unknown;
  /** The trees whose off and on services run; by default this checkout alone. */
  trees?: TracingTree[];
  /** Answers per second offered to the service in a window. */
  rate: number;
  /** Answers per window. */
  answers: number;
  /** Counted rounds (after the warm-up). */
  rounds: number;
  connections: number;
}

interface Window {
  load: LoadResult;
  cpuMs: number;
  exportedBytes: number;
}

interface Variant {
  tree: TracingTree;
  tracing: boolean;
  service: Process;
  collector?: { server: Server; bytes: number };
}

export interface TreeCost {
  tree: TracingTree;
  /** Per counted round: the off and on windows. */
  rounds: Array<{ off: Window; on: Window }>;
}

export interface TracingCostResult {
  options: Omit<TracingCostOptions, 'env' | 'body'>;
  trees: TreeCost[];
  loadAverage: { before: number[]; after: number[] };
  /** Each service's CPU while idle, in ms per ms. */
  idleCpuShare: Record<string, number>;
}

async function collector(): Promise<{ server: Server; bytes: number; endpoint: string }> {
  const sink = { server: createServer(), bytes: 0 };
  sink.server.on('request', (request, response) => {
    request.on('data', (chunk: Buffer) => (sink.bytes += chunk.length));
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  sink.server.listen(0, '127.0.0.1');
  await once(sink.server, 'listening');
  return Object.assign(sink, { endpoint: `http://127.0.0.1:${(sink.server.address() as AddressInfo).port}` });
}

async function startVariant(tree: TracingTree, tracing: boolean, env: Record<string, string>, scratch: string): Promise<Variant> {
  // One process holds a DATA_DIR at a time, and every variant runs all along: each gets a copy.
  const dataDir = join(scratch, `${tree.name}-${tracing ? 'on' : 'off'}`.replace(/[^\w.-]/g, '_'));
  await cp(env.DATA_DIR as string, dataDir, { recursive: true });
  const sink = tracing ? await collector() : undefined;
  const service = await startService({ ...env, DATA_DIR: dataDir, ...(sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } : {}) }, tree.root);
  return { tree, tracing, service, ...(sink ? { collector: sink } : {}) };
}

export async function tracingCost(options: TracingCostOptions): Promise<TracingCostResult> {
  const trees = options.trees ?? [{ name: 'this checkout', root: REPOSITORY_ROOT }];
  const scratch = await temporaryDir('tracing-cost-');
  const variants: Variant[] = [];
  const before = loadavg();
  try {
    for (const tree of trees) for (const tracing of [false, true]) variants.push(await startVariant(tree, tracing, options.env, scratch));
    const windows = new Map<Variant, Window[]>(variants.map((variant) => [variant, []]));
    const window = async (variant: Variant) => {
      const start = { cpuMs: processCpuMs(variant.service.child), bytes: variant.collector?.bytes ?? 0, at: performance.now() };
      const result = await load({ url: `${variant.service.url}${options.url}`, connections: options.connections, seconds: 0, body: options.body, paced: { rate: options.rate, requests: options.answers } });
      // Read after the window's last spans are exported, while the next window (another service's) runs.
      const measured = sleep(TAIL_MS).then(() => ({ load: result, cpuMs: processCpuMs(variant.service.child) - start.cpuMs, ms: performance.now() - start.at, exportedBytes: (variant.collector?.bytes ?? 0) - start.bytes }));
      return { measured };
    };
    progress(`tracing cost: warm-up, then ${IDLE_MS / 1000} s idle`);
    const warmUp = [];
    for (const variant of variants) warmUp.push((await window(variant)).measured);
    await Promise.all(warmUp);
    // What each service spends idle (timers, pollers) is no answer's: it is taken off each window by its length.
    const idle = variants.map((variant) => processCpuMs(variant.service.child));
    await sleep(IDLE_MS);
    const idleRate = new Map(variants.map((variant, index) => [variant, (processCpuMs(variant.service.child) - (idle[index] as number)) / IDLE_MS]));
    const pending = new Map<Variant, Promise<void>>();
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? variants : [...variants].reverse();
      progress(`tracing cost: round ${round} of ${options.rounds}: ${order.map((v) => `${v.tree.name} ${v.tracing ? 'on' : 'off'}`).join(', ')}`);
      for (const variant of order) {
        // A service's windows do not overlap: its previous one is read first.
        await pending.get(variant);
        const { measured } = await window(variant);
        pending.set(
          variant,
          measured.then(({ ms: length, ...measured }) => {
            windows.get(variant)?.push({ ...measured, cpuMs: measured.cpuMs - (idleRate.get(variant) ?? 0) * length });
          }),
        );
      }
    }
    await Promise.all(pending.values());
    const after = loadavg();
    return {
      options: { url: options.url, trees, rate: options.rate, answers: options.answers, rounds: options.rounds, connections: options.connections },
      trees: trees.map((tree) => {
        const of = (tracing: boolean) => windows.get(variants.find((v) => v.tree === tree && v.tracing === tracing) as Variant) ?? [];
        const off = of(false);
        const on = of(true);
        return { tree, rounds: off.map((window, index) => ({ off: window, on: on[index] as Window })) };
      }),
      loadAverage: { before, after },
      idleCpuShare: Object.fromEntries(variants.map((variant) => [`${variant.tree.name} ${variant.tracing ? 'on' : 'off'}`, idleRate.get(variant) ?? 0])),
    };
  } finally {
    for (const variant of variants) {
      await stop(variant.service);
      variant.collector?.server.close();
    }
    await rm(scratch, { recursive: true, force: true });
  }
}

const cpuPerAnswer = (window: Window) => window.cpuMs / Math.max(1, window.load.requests);

/** The median of the rounds' on / off ratios, their quartiles and a bootstrap 95 % interval of the median. */
export function roundStatistics(ratios: readonly number[]): { median: number; q1: number; q3: number; low: number; high: number } {
  const sorted = [...ratios].sort((a, b) => a - b);
  const random = seededRandom(23);
  const medians = Array.from({ length: BOOTSTRAP_SAMPLES }, () =>
    percentile(
      Array.from({ length: sorted.length }, () => sorted[Math.floor(random() * sorted.length)] as number).sort((a, b) => a - b),
      50,
    ),
  ).sort((a, b) => a - b);
  return { median: percentile(sorted, 50), q1: percentile(sorted, 25), q3: percentile(sorted, 75), low: percentile(medians, 2.5), high: percentile(medians, 97.5) };
}

const percent = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

function verdict(low: number, high: number): string {
  if (high - 1 <= TARGET_CPU_SHARE) return 'met (the whole interval is at or under the target)';
  if (low - 1 > TARGET_CPU_SHARE) return 'missed (the whole interval is over the target)';
  return 'not told apart from the target by this run (the interval spans it)';
}

export function tracingCostReport(result: TracingCostResult): string {
  const { options } = result;
  const lines = [
    `Tracing off and on, side by side (${options.rounds} rounds after a warm-up window each; in each, every service below gets ${options.answers} /v1/ask at an offered ${options.rate} per second over ${options.connections} connections, the order reversed every other round; each service runs all along on its own copy of the store; on: the SDK's defaults, spans over OTLP/HTTP protobuf to a collector that drops them). CPU: the service process's user + system time (/proc) from the start of its window to ${TAIL_MS / 1000} s after its end, so its export counts, less its idle CPU over that time, divided by its answers (idle, ms per s: ${Object.entries(result.idleCpuShare).map(([name, share]) => `${name} ${(share * 1000).toFixed(1)}`).join(', ')}). Load average (1, 5, 15 min) ${result.loadAverage.before.map((v) => v.toFixed(2)).join(', ')} before, ${result.loadAverage.after.map((v) => v.toFixed(2)).join(', ')} after.`,
    '',
  ];
  const header = ['tree', 'service CPU ms per answer, off → on (medians)', 'on / off per round: median', 'quartiles', 'bootstrap 95 % interval of the median', 'exported KiB per answer', 'latency p50 off / on ms', 'failed'];
  const rows = result.trees.map(({ tree, rounds }) => {
    const stats = roundStatistics(rounds.map((round) => cpuPerAnswer(round.on) / cpuPerAnswer(round.off)));
    const med = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
    const answers = rounds.reduce((sum, round) => sum + round.on.load.requests, 0);
    const bytes = rounds.reduce((sum, round) => sum + round.on.exportedBytes, 0);
    return [
      tree.name,
      `${med(rounds.map((round) => cpuPerAnswer(round.off))).toFixed(2)} → ${med(rounds.map((round) => cpuPerAnswer(round.on))).toFixed(2)}`,
      percent(stats.median),
      `${percent(stats.q1)} to ${percent(stats.q3)}`,
      `${percent(stats.low)} to ${percent(stats.high)}`,
      (bytes / Math.max(1, answers) / 1024).toFixed(2),
      `${ms(med(rounds.map((round) => round.off.load.p50)))} / ${ms(med(rounds.map((round) => round.on.load.p50)))}`,
      rounds.reduce((sum, round) => sum + round.off.load.failures + round.on.load.failures, 0),
    ];
  });
  lines.push(markdownTable(header, rows), '');
  for (const { tree, rounds } of result.trees) {
    const stats = roundStatistics(rounds.map((round) => cpuPerAnswer(round.on) / cpuPerAnswer(round.off)));
    const exported = rounds.every((round) => round.on.exportedBytes > 0);
    lines.push(
      `- ${tree.name}: tracing adds ${percent(stats.median)} CPU per answer (median of ${rounds.length} rounds; 95 % interval ${percent(stats.low)} to ${percent(stats.high)}; target ≤ ${TARGET_CPU_SHARE * 100} %): ${verdict(stats.low, stats.high)}.${exported ? '' : ' Some on windows exported nothing: the measurement is void.'}`,
    );
  }
  return lines.join('\n');
}
