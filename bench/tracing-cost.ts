import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { load, type LoadResult, processCpuMs, startService, stop } from './serving.js';
import { markdownTable, ms, progress } from './support.js';

/**
 * What OpenTelemetry tracing costs an answer: the service's CPU (user + system, /proc) per
 * /v1/ask with tracing off and on, over the same store and NIM emulator. On, its spans go over
 * OTLP/HTTP (protobuf, batched as the SDK does by default, flushed every second here so that a
 * run's export falls inside it) to a collector in the benchmark's process that accepts and drops
 * them. One service holds a DATA_DIR at a time, so the variants take turns: off, on, three times,
 * and each variant's CPU is the mean of its runs (a shared machine's noise is of the size measured).
 */

const TARGET_CPU_SHARE = 0.05;
const FLUSH_MS = 1000;
const PAIRS = 3;

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

export interface TracingRun {
  tracing: boolean;
  load: LoadResult;
  cpuMsPerAnswer: number;
  exportedBytesPerAnswer: number;
}

export interface TracingCostOptions {
  /** The service's environment, as the rest of the benchmark runs it. */
  env: Record<string, string>;
  url: string;
  body: unknown;
  clients: number;
  seconds: number;
}

export async function tracingCost(options: TracingCostOptions): Promise<TracingRun[]> {
  let exportedBytes = 0;
  const collector = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (exportedBytes += chunk.length));
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const runs: TracingRun[] = [];
  try {
    for (const tracing of Array.from({ length: PAIRS * 2 }, (_, index) => index % 2 === 1)) {
      progress(`tracing ${tracing ? 'on' : 'off'}: ${options.clients} clients, ${options.seconds} s of /v1/ask`);
      const service = await startService({
        ...options.env,
        ...(tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: String(FLUSH_MS) } : {}),
      });
      try {
        const url = `${service.url}${options.url}`;
        await load({ url, connections: options.clients, seconds: 3, body: options.body });
        await sleep(FLUSH_MS * 1.5);
        const cpuBefore = processCpuMs(service.child);
        const bytesBefore = exportedBytes;
        const result = await load({ url, connections: options.clients, seconds: options.seconds, body: options.body });
        // The last batch of spans is exported within FLUSH_MS of the run's end: its cost is the run's.
        await sleep(FLUSH_MS * 1.5);
        const answers = Math.max(1, result.requests);
        runs.push({
          tracing,
          load: result,
          cpuMsPerAnswer: (processCpuMs(service.child) - cpuBefore) / answers,
          exportedBytesPerAnswer: (exportedBytes - bytesBefore) / answers,
        });
      } finally {
        await stop(service);
      }
    }
  } finally {
    collector.close();
  }
  return runs;
}

export function tracingCostReport(runs: TracingRun[], clients: number, seconds: number): string {
  const rows = runs.map((run, index) => [
    index + 1,
    run.tracing ? 'on' : 'off',
    run.load.requests,
    run.cpuMsPerAnswer.toFixed(2),
    `${ms(run.load.p50)} / ${ms(run.load.p99)}`,
    run.tracing ? (run.exportedBytesPerAnswer / 1024).toFixed(1) : '–',
    run.load.failures,
  ]);
  const cpu = (tracing: boolean) => mean(runs.filter((run) => run.tracing === tracing).map((run) => run.cpuMsPerAnswer));
  const share = cpu(true) / cpu(false) - 1;
  return [
    `Tracing off and on (${clients} clients, ${seconds} s per run, ${PAIRS} runs each, alternating on the same store; on: spans over OTLP/HTTP protobuf to a collector in the benchmark's process, flushed every ${FLUSH_MS} ms). CPU: the service process's user + system time over the run, divided by its answers:`,
    '',
    markdownTable(['run', 'tracing', 'answers', 'service CPU ms per answer', 'latency p50 / p99 ms', 'exported KiB per answer', 'failed'], rows),
    '',
    `- Tracing's CPU per answer: ${cpu(true).toFixed(2)} ms on against ${cpu(false).toFixed(2)} ms off (means of the runs), ${(share * 100).toFixed(1)} % more (target ≤ ${TARGET_CPU_SHARE * 100} %): ${share <= TARGET_CPU_SHARE ? 'met' : 'missed'}.`,
  ].join('\n');
}
