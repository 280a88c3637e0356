import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EMBED_MODEL, LLM_MODEL } from '../test/support/nim-emulator.js';
import { readProfile, summarizeProfile, summaryTable } from './cpu-profile-summary.js';
import { corpusStore, DIMENSIONS, processCpuMs, startNim, startService, stop } from './serving.js';
import { count, markdownTable, print, progress, randomWords, REPOSITORY_ROOT, seededRandom, temporaryDir } from './support.js';

/**
 * Where the service's CPU goes per streamed token: the built service (dist/server.js, `npm run
 * build` first) under `node --cpu-prof`, STREAMS streamed asks (CLIENTS at once) over a small
 * store, the NIM emulator in its own process pacing tokens as bench:stream does (first token
 * 200 ms after the request, one every 5 ms after, one SSE event per write). The profile is cut to
 * the streams and summed by category (bench/cpu-profile-summary.ts), with the process CPU per
 * token beside it; the same number of plain asks gives a request's fixed cost, so the CPU of a
 * token alone is shown too. The store is bench:stream's (10,000 chunks), so answers are as long as there.
 *
 *   npm run build && tsx bench/profile-stream.ts [--streams 160] [--clients 16] [--keep DIR]
 */

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '160' },
    clients: { type: 'string', default: '16' },
    keep: { type: 'string' },
  },
});
const STREAMS = Number(values.streams);
const CLIENTS = Number(values.clients);

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** The service's system CPU milliseconds so far (every thread): the kernel's share, which the profile does not sample. */
const systemCpuMs = (pid: number) => (Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[12]) * 1000) / CLOCK_TICKS;
const random = seededRandom(9);
const body = (stream: boolean) => JSON.stringify({ question: `What do the documents say about ${randomWords(random, 3)}?`, k: 4, stream });

/** One ask read to its end; for a stream, the tokens its `done` event reports. */
async function askOnce(url: string, stream: boolean): Promise<number> {
  const response = await fetch(`${url}/v1/ask`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(stream) });
  if (!response.ok) throw new Error(`POST /v1/ask answered ${response.status}`);
  const text = await response.text();
  if (!stream) return 0;
  const done = /event: done\ndata: (.*)\n/.exec(text)?.[1];
  if (done === undefined) throw new Error(`a stream without done: ${text.slice(-300)}`);
  return (JSON.parse(done) as { usage: { completion_tokens: number } }).usage.completion_tokens;
}

async function run(url: string, total: number, stream: boolean): Promise<number> {
  let sent = 0;
  const tokens: number[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (sent < total) {
        sent += 1;
        tokens.push(await askOnce(url, stream));
      }
    }),
  );
  return tokens.reduce((sum, each) => sum + each, 0);
}

const profileDir = values.keep ?? (await temporaryDir('profile-stream'));
const dataDir = await corpusStore(10_000);
const nim = await startNim({ models: [EMBED_MODEL, LLM_MODEL], dimensions: DIMENSIONS, chatLatencyMs: 200, tokenIntervalMs: 5 });
const service = await startService(
  { DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, NIM_LLM_URL: nim.url, NIM_LLM_MODEL: LLM_MODEL },
  REPOSITORY_ROOT,
  ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=250'],
);
try {
  progress('warming up');
  await run(service.url, 32, true);
  await run(service.url, 16, false);
  progress(`${count(STREAMS)} streams, ${CLIENTS} at a time`);
  const from = monotonicMicros();
  const pid = service.child.pid as number;
  const cpuBefore = processCpuMs(service.child);
  const systemBefore = systemCpuMs(pid);
  const tokens = await run(service.url, STREAMS, true);
  const to = monotonicMicros();
  const cpuStreams = processCpuMs(service.child) - cpuBefore;
  const systemStreams = systemCpuMs(pid) - systemBefore;
  progress(`${count(STREAMS)} plain asks`);
  const plainBefore = processCpuMs(service.child);
  const plainSystemBefore = systemCpuMs(pid);
  await run(service.url, STREAMS, false);
  const plainTo = monotonicMicros();
  const cpuPlain = processCpuMs(service.child) - plainBefore;
  const systemPlain = systemCpuMs(pid) - plainSystemBefore;
  await stop(service);
  const file = (await readdir(profileDir)).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${profileDir}`);
  const profile = await readProfile(join(profileDir, file));
  const perToken = (cpuMs: number) => ((cpuMs * 1000) / tokens).toFixed(1);
  print(
    `${count(STREAMS)} streams of ${(tokens / STREAMS).toFixed(0)} tokens, ${CLIENTS} at a time: process CPU ${cpuStreams.toFixed(0)} ms = ${perToken(cpuStreams)} µs per token, the fixed cost included; ` +
      `${count(STREAMS)} plain asks ${cpuPlain.toFixed(0)} ms, so a token alone ${perToken(cpuStreams - cpuPlain)} µs, of which system (kernel) ${perToken(systemStreams - systemPlain)} µs.\n`,
  );
  const streams = summarizeProfile(profile, { from, to });
  print(summaryTable(streams, { count: tokens, unit: 'token (fixed cost included)', cpuMicros: cpuStreams * 1000 }, 5));
  // Each category's process CPU in the streams less the same in the plain asks, per token: where a token's own CPU goes.
  const plain = summarizeProfile(profile, { from: to, to: plainTo });
  const share = (summary: typeof streams, name: string, cpuMs: number) => ((summary.byCategory.get(name) ?? 0) / summary.totalMicros) * cpuMs * 1000;
  const names = [...new Set([...streams.byCategory.keys(), ...plain.byCategory.keys()])];
  const rows = names
    .map((name) => [name, (share(streams, name, cpuStreams) - share(plain, name, cpuPlain)) / tokens] as const)
    .sort((a, b) => b[1] - a[1])
    .map(([name, micros]) => [name, micros.toFixed(1)]);
  print(`\nA token alone, by category (streams less plain asks):\n\n${markdownTable(['where', 'CPU µs per token'], [...rows, ['**all**', perToken(cpuStreams - cpuPlain)]])}`);
  print(`\nprofile: ${join(profileDir, file)} (streams ${from}–${to} µs, plain asks ${to}–${plainTo} µs)`);
} finally {
  await stop(service);
  await stop(nim);
}
