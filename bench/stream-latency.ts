import { execFileSync } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { EMBED_MODEL, LLM_MODEL } from '../test/support/nim-emulator.js';
import { checkoutTree } from './checkout-tree.js';
import { corpusStore, DIMENSIONS, type Process, processCpuMs, startNim, startService, stop } from './serving.js';
import { benchFlags, count, markdownTable, ms, print, progress, randomWords, REPOSITORY_ROOT, seededRandom, summarize, type Summary, temporaryDir, writeResultsSection } from './support.js';

/**
 * bench:stream — what a streamed answer costs. POST /v1/ask with `Accept: text/event-stream` over
 * a store of CHUNKS chunks, with the NIM emulator (its own process) sending its first token
 * FIRST_TOKEN_MS after a streamed chat request and one every TOKEN_INTERVAL_MS after. For 1, 16
 * and 64 streams at once: time to the first `token` event, and the service process's CPU time
 * (user + system, all its threads, from /proc) per token the model produced. The same run does
 * it for the service as committed at BENCH_BASELINE (default `main`) and at HEAD, each checked
 * out into a scratch directory with its own build of the workspace package, both running at
 * once and measured in turns (ROUNDS rounds of every row each), so the two are side by side and
 * edits made while it runs do not leak in. A run of plain (non-streamed) asks gives the fixed CPU cost of one request, so
 * that what each further streamed token costs can be told apart from it.
 */

const flags = benchFlags();
const BASELINE = process.env.BENCH_BASELINE ?? 'main';
const CANDIDATE = 'HEAD';
// The store's size moves retrieval, not what a token costs: one that builds in about two minutes.
const CHUNKS = 10_000;
const ROWS: Array<{ clients: number; streams: number }> = flags.quick
  ? [
      { clients: 1, streams: 8 },
      { clients: 16, streams: 48 },
      { clients: 64, streams: 128 },
    ]
  : [
      { clients: 1, streams: 30 },
      { clients: 16, streams: 160 },
      { clients: 64, streams: 384 },
    ];
const PLAIN_ASKS = flags.quick ? 48 : 160;
/** Rounds of every row, taken in turns by the two services. */
const ROUNDS = flags.quick ? 1 : 2;
const FIRST_TOKEN_MS = 200;
const TOKEN_INTERVAL_MS = 5;
const K = 4;

const random = seededRandom(9);
const LOAD_BEFORE = loadavg().map((load) => load.toFixed(2)).join(' ');
const question = () => `What do the documents say about ${randomWords(random, 3)}?`;

interface Streamed {
  firstTokenMs: number;
  /** The model's completion tokens, as the `done` event reports them. */
  tokens: number;
}

/** One streamed ask, read to its end. */
async function streamOnce(url: string): Promise<Streamed> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/ask`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ question: question(), k: K }),
  });
  if (!response.ok || !response.body) throw new Error(`POST /v1/ask answered ${response.status}`);
  const decoder = new TextDecoder();
  let text = '';
  let firstTokenMs: number | undefined;
  for await (const piece of response.body) {
    text += decoder.decode(piece, { stream: true });
    if (firstTokenMs === undefined && text.includes('event: token')) firstTokenMs = performance.now() - started;
  }
  const done = /event: done\ndata: (.*)\n/.exec(text)?.[1];
  if (firstTokenMs === undefined || done === undefined) throw new Error(`a stream without tokens or done: ${text.slice(-300)}`);
  const tokens = (JSON.parse(done) as { usage?: { completion_tokens: number } }).usage?.completion_tokens;
  return { firstTokenMs, tokens: tokens ?? text.split('event: token').length - 1 };
}

async function plainOnce(url: string): Promise<void> {
  const response = await fetch(`${url}/v1/ask`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: question(), k: K }),
  });
  if (!response.ok) throw new Error(`POST /v1/ask answered ${response.status}`);
  await response.arrayBuffer();
}

/** `total` calls, `clients` at a time, with the service's CPU milliseconds over all of them. */
async function measure<T>(service: Process, total: number, clients: number, once: () => Promise<T>): Promise<{ results: T[]; cpu: number }> {
  const results: T[] = [];
  let sent = 0;
  const before = processCpuMs(service.child);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (sent < total) {
        sent += 1;
        results.push(await once());
      }
    }),
  );
  return { results, cpu: processCpuMs(service.child) - before };
}

interface Row {
  firstToken: Summary;
  /** Service CPU per token, the request's fixed cost included. */
  cpuPerTokenUs: number;
}

interface VariantResult {
  rows: Row[];
  /** Service CPU of one plain (non-streamed) ask of the same answer. */
  plainCpuPerAskUs: number;
  /** Tokens per answer. */
  tokensPerAnswer: number;
}

/** What one variant's service has measured so far, summed over the rounds. */
interface Tally {
  service: Process;
  firstTokens: number[][];
  cpu: number[];
  tokens: number[];
  answers: number[];
  plainCpu: number;
}

/** One round of every row and the plain asks, added to the variant's tally. */
async function measureRound(tally: Tally): Promise<void> {
  const { service } = tally;
  for (const [index, { clients, streams }] of ROWS.entries()) {
    progress(`${count(streams)} streams, ${clients} at a time`);
    const { results, cpu } = await measure(service, streams, clients, () => streamOnce(service.url));
    (tally.firstTokens[index] as number[]).push(...results.map((result) => result.firstTokenMs));
    tally.cpu[index] = (tally.cpu[index] ?? 0) + cpu;
    tally.tokens[index] = (tally.tokens[index] ?? 0) + results.reduce((sum, result) => sum + result.tokens, 0);
    tally.answers[index] = (tally.answers[index] ?? 0) + results.length;
  }
  progress(`${count(PLAIN_ASKS)} plain asks, 16 at a time`);
  tally.plainCpu += (await measure(service, PLAIN_ASKS, 16, () => plainOnce(service.url))).cpu;
}

function resultOf(tally: Tally): VariantResult {
  const rows = ROWS.map((_, index) => ({
    firstToken: summarize(tally.firstTokens[index] as number[]),
    cpuPerTokenUs: ((tally.cpu[index] as number) * 1000) / (tally.tokens[index] as number),
  }));
  const last = ROWS.length - 1;
  return { rows, plainCpuPerAskUs: (tally.plainCpu * 1000) / (PLAIN_ASKS * ROUNDS), tokensPerAnswer: (tally.tokens[last] as number) / (tally.answers[last] as number) };
}

/** Both services side by side, warmed up, then measured in turns (baseline, candidate, baseline, …) so the machine's noise falls on both alike. */
async function measureInTurns(roots: string[], env: Record<string, string>): Promise<VariantResult[]> {
  const tallies: Tally[] = [];
  // Each service holds its DATA_DIR's lock: the second reads a copy of the store.
  const copies: string[] = [];
  try {
    for (const root of roots) {
      let dataDir = env.DATA_DIR as string;
      if (tallies.length > 0) {
        dataDir = await temporaryDir('stream-store');
        copies.push(dataDir);
        await cp(env.DATA_DIR as string, dataDir, { recursive: true });
      }
      const service = await startService({ ...env, DATA_DIR: dataDir }, root);
      tallies.push({ service, firstTokens: ROWS.map(() => []), cpu: [], tokens: [], answers: [], plainCpu: 0 });
      progress(`warming up ${root}`);
      await measure(service, 32, 8, () => streamOnce(service.url));
      await measure(service, 16, 8, () => plainOnce(service.url));
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [index, tally] of tallies.entries()) {
        progress(`round ${round} of ${ROUNDS}: the service at ${index === 0 ? BASELINE : CANDIDATE}`);
        await measureRound(tally);
      }
    }
    return tallies.map(resultOf);
  } finally {
    for (const tally of tallies) await stop(tally.service);
    for (const copy of copies) await rm(copy, { recursive: true, force: true });
  }
}

const commit = (ref: string) => execFileSync('git', ['rev-parse', '--short', ref], { cwd: REPOSITORY_ROOT, encoding: 'utf8' }).trim();
const us = (value: number) => value.toFixed(0);
const perCore = (usPerToken: number) => count(Math.round(1e6 / usPerToken));

async function main(): Promise<void> {
  const dataDir = await corpusStore(CHUNKS);
  const baseline = await checkoutTree(BASELINE);
  const candidate = await checkoutTree(CANDIDATE);
  let nim: Process | undefined;
  try {
    nim = await startNim({ models: [EMBED_MODEL, LLM_MODEL], dimensions: DIMENSIONS, chatLatencyMs: FIRST_TOKEN_MS, tokenIntervalMs: TOKEN_INTERVAL_MS });
    const env = { DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, NIM_LLM_URL: nim.url, NIM_LLM_MODEL: LLM_MODEL };
    const [before, after] = (await measureInTurns([baseline, candidate], env)) as [VariantResult, VariantResult];
    const rows = ROWS.map(({ clients }, index) => {
      const was = before.rows[index] as Row;
      const now = after.rows[index] as Row;
      return [
        clients,
        `${ms(was.firstToken.p50)} / ${ms(was.firstToken.p99)}`,
        `${ms(now.firstToken.p50)} / ${ms(now.firstToken.p99)}`,
        `${us(was.cpuPerTokenUs)} → **${us(now.cpuPerTokenUs)}**`,
        `${perCore(was.cpuPerTokenUs)} → ${perCore(now.cpuPerTokenUs)}`,
      ];
    });
    const marginal = (variant: VariantResult) => (variant.rows[1] as Row).cpuPerTokenUs - variant.plainCpuPerAskUs / variant.tokensPerAnswer;
    const body = [
      `Parameters: ${count(CHUNKS)} chunks (clustered ${DIMENSIONS}-dimensional vectors in the HNSW graph), k ${K}; answers of ${after.tokensPerAnswer.toFixed(0)} tokens; the NIM emulator (its own process) sends its first token ${FIRST_TOKEN_MS} ms after a streamed chat request and one every ${TOKEN_INTERVAL_MS} ms after, and embeds at once. ${ROWS.map((row) => `${count(row.streams)} streams at ${row.clients}`).join(', ')} at a time. "Before" is \`${BASELINE}\` (${commit(BASELINE)}), "after" ${commit(CANDIDATE)}, in the same run, both running at once and measured in turns, ${ROUNDS} rounds each; Node ${process.version}, load average before the run ${LOAD_BEFORE}, after ${loadavg().map((load) => load.toFixed(2)).join(" ")}. First token: ms from sending the request to the first \`token\` event, p50 / p99. CPU: the service process's user + system time (every thread, /proc) over the streams, divided by the tokens the model produced, so it includes each request's fixed cost (retrieval, prompt, HTTP); tokens/s per core is its inverse.`,
      '',
      markdownTable(['streams at once', 'before: first token', 'after: first token', 'CPU µs per token, before → after', 'tokens/s per core, before → after'], rows),
      '',
      `The fixed cost of one request, from ${count(PLAIN_ASKS)} plain (non-streamed) asks of the same answers, 16 at a time: ${us(before.plainCpuPerAskUs)} → ${us(after.plainCpuPerAskUs)} µs of CPU. Taken off the 16-stream row, what each streamed token costs on its own: ${us(marginal(before))} → **${us(marginal(after))} µs**.`,
    ].join('\n');
    print(body);
    await writeResultsSection({ id: 'bench:stream', title: 'Streamed answers: CPU per token and time to first token (bench:stream)', body });
  } finally {
    await stop(nim);
    await rm(baseline, { recursive: true, force: true });
    await rm(candidate, { recursive: true, force: true });
  }
}

await main();
