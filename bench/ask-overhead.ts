import { CONDENSE_INSTRUCTIONS } from '../src/rag/condense.js';
import { EMBED_MODEL, LLM_MODEL } from '../test/support/nim-emulator.js';
import { chatRequestLikeTheChain, corpusStore, DIMENSIONS, load, type LoadResult, type Process, startNim, startService, stop } from './serving.js';
import { tracingCost, tracingCostReport, tracingLoad } from './tracing-cost.js';
import { ask as askHelper, benchFlags, count, markdownTable, median, ms, postJson, print, progress, randomWords, seededRandom, timed, writeResultsSection } from './support.js';

/**
 * bench:ask — how much latency the service adds to the model's. POST /v1/ask against a store of
 * 100,000 chunks, with the NIM emulator answering every chat completion after exactly
 * LLM_LATENCY_MS (its embeddings take no time), at 1 and 64 concurrent clients (autocannon). In
 * the same run, the same number of clients call the emulator's /v1/chat/completions directly
 * with a prompt of the same size: the floor that HTTP and the emulator set. Then the cost of a
 * follow-up's rewrite (the condense step): its `rewrite_ms` beside the emulator's own latency for the
 * same condense request sent directly, and the NIM calls of requests with and without history.
 * Last, what tracing costs: the service's CPU per answer with OpenTelemetry tracing off and on
 * (bench/tracing-cost.ts).
 */

const flags = benchFlags();
const CHUNKS = flags.quick ? 10_000 : 100_000;
const SECONDS = flags.quick ? 5 : 20;
const LLM_LATENCY_MS = 200;
const CLIENTS = [1, 64];
const K = 4;
const TARGET_OVERHEAD_P50_MS = 5;
const TARGET_THROUGHPUT_SHARE = 0.9;
const TARGET_REWRITE_OVERHEAD_P50_MS = 3;
const BREAKDOWN_ROUNDS = flags.quick ? 30 : 150;

const random = seededRandom(5);
const QUESTION = `What do the documents say about ${randomWords(random, 3)}?`;

interface Pair {
  clients: number;
  direct: LoadResult;
  ask: LoadResult;
}

/** Medians, in ms, of one client's sequential calls: the service's parts beside the emulator's floors. */
interface Breakdown {
  chatDirect: number;
  embedDirect: number;
  ask: number;
  retrieval: number;
  generation: number;
  total: number;
}

interface AskTimings {
  timings: { retrieval_ms: number; generation_ms: number; total_ms: number };
}

/**
 * Where one answer's overhead goes: rounds of (chat completion at the emulator, query embedding at
 * the emulator, /v1/ask), one call at a time from the same client, beside the `timings` the
 * service reports in each answer.
 */
async function breakdown(nim: Process, service: Process): Promise<Breakdown> {
  progress(`1 client, ${BREAKDOWN_ROUNDS} sequential rounds: where the overhead goes`);
  const chatBody = chatRequestLikeTheChain(random, QUESTION, K, false);
  const embedBody = { input: [QUESTION], model: EMBED_MODEL, input_type: 'query', encoding_format: 'float', truncate: 'NONE' };
  const samples: Record<keyof Breakdown, number[]> = { chatDirect: [], embedDirect: [], ask: [], retrieval: [], generation: [], total: [] };
  for (let round = 0; round < BREAKDOWN_ROUNDS; round++) {
    samples.chatDirect.push((await timed(() => postJson(`${nim.url}/chat/completions`, chatBody))).ms);
    samples.embedDirect.push((await timed(() => postJson(`${nim.url}/embeddings`, embedBody))).ms);
    const answered = await timed(() => postJson<AskTimings>(`${service.url}/v1/ask`, { question: QUESTION, k: K }));
    samples.ask.push(answered.ms);
    samples.retrieval.push(answered.result.timings.retrieval_ms);
    samples.generation.push(answered.result.timings.generation_ms);
    samples.total.push(answered.result.timings.total_ms);
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([part, values]) => [part, median(values)]));
  return medians as unknown as Breakdown;
}

function breakdownReport(parts: Breakdown): string {
  const rows: Array<[string, number, string]> = [
    ['/v1/ask, as the client sees it', parts.ask, ''],
    ['chat completion at the emulator directly', parts.chatDirect, `the floor: ${ms(parts.chatDirect - LLM_LATENCY_MS)} ms over the emulated ${LLM_LATENCY_MS} ms is HTTP and the emulator`],
    ['query embedding at the emulator directly', parts.embedDirect, 'the retrieval floor: one HTTP round trip'],
    ['service: retrieval_ms', parts.retrieval, `${ms(parts.retrieval - parts.embedDirect)} ms beyond the embedding round trip: graph search, the NIM client, the chain's start`],
    ['service: generation_ms', parts.generation, `${ms(parts.generation - parts.chatDirect)} ms beyond the direct chat round trip: prompt, chat model, parser`],
    ['service: total_ms', parts.total, ''],
    ['/v1/ask − service total_ms', parts.ask - parts.total, 'HTTP in and out, Fastify: parsing, validation, hooks, serialisation'],
    ['/v1/ask − chat directly', parts.ask - parts.chatDirect, 'all the service adds'],
  ];
  return [
    `Where the overhead goes (1 client, ${BREAKDOWN_ROUNDS} sequential rounds of: the emulator's chat completion, its query embedding, /v1/ask; medians in ms, with the \`timings\` the service reports in each answer):`,
    '',
    markdownTable(['what', 'p50 ms', 'reading'], rows.map(([what, value, reading]) => [what, value.toFixed(2), reading])),
  ].join('\n');
}

async function measure(nim: Process, service: Process): Promise<Pair[]> {
  progress('warming up');
  await load({ url: `${service.url}/v1/ask`, connections: 8, seconds: 3, body: { question: QUESTION, k: K } });
  const pairs: Pair[] = [];
  for (const clients of CLIENTS) {
    progress(`${clients} client(s): the emulator directly, then /v1/ask, ${SECONDS} s each`);
    const direct = await load({ url: `${nim.url}/chat/completions`, connections: clients, seconds: SECONDS, body: chatRequestLikeTheChain(random, QUESTION, K, false) });
    const ask = await load({ url: `${service.url}/v1/ask`, connections: clients, seconds: SECONDS, body: { question: QUESTION, k: K } });
    pairs.push({ clients, direct, ask });
  }
  return pairs;
}

function report(pairs: Pair[]): string {
  const rows = pairs.map(({ clients, direct, ask }) => {
    const ceiling = (clients * 1000) / LLM_LATENCY_MS;
    return [
      clients,
      `${ms(direct.p50)} / ${ms(direct.p99)}`,
      `${ms(ask.p50)} / ${ms(ask.p99)}`,
      `${ms(ask.p50 - LLM_LATENCY_MS)} / ${ms(ask.p99 - LLM_LATENCY_MS)}`,
      `${ms(ask.p50 - direct.p50)} / ${ms(ask.p99 - direct.p99)}`,
      `${ask.rps.toFixed(1)} (${((ask.rps / ceiling) * 100).toFixed(0)}% of ${ceiling.toFixed(0)})`,
      `${direct.rps.toFixed(1)}`,
      `${ask.failures} of ${count(ask.requests)}`,
    ];
  });
  const single = pairs.find((pair) => pair.clients === 1);
  const many = pairs.find((pair) => pair.clients === 64);
  const verdicts = [
    single &&
      `Overhead p50 at 1 client: ${ms(single.ask.p50 - LLM_LATENCY_MS)} ms over the emulated ${LLM_LATENCY_MS} ms (target ≤ ${TARGET_OVERHEAD_P50_MS} ms): ${single.ask.p50 - LLM_LATENCY_MS <= TARGET_OVERHEAD_P50_MS ? 'met' : 'missed'}.`,
    many &&
      `Throughput at 64 clients: ${many.ask.rps.toFixed(1)} answers/s, ${((many.ask.rps / ((64 * 1000) / LLM_LATENCY_MS)) * 100).toFixed(0)}% of 64 / ${LLM_LATENCY_MS} ms (target ≥ ${TARGET_THROUGHPUT_SHARE * 100}%): ${many.ask.rps >= TARGET_THROUGHPUT_SHARE * ((64 * 1000) / LLM_LATENCY_MS) ? 'met' : 'missed'}.`,
    `Failed requests: ${pairs.reduce((sum, pair) => sum + pair.ask.failures, 0)} (target 0).`,
  ];
  return [
    `Parameters: ${count(CHUNKS)} chunks of about 100 words (clustered ${DIMENSIONS}-dimensional vectors, all in the HNSW graph), k ${K}; the NIM emulator (its own process) answers chat completions after ${LLM_LATENCY_MS} ms and embeddings at once; autocannon, ${SECONDS} s per run, from the benchmark's process; the service is src/server.ts in its own process. Latencies in ms, p50 / p99.`,
    '',
    markdownTable(
      [
        'clients',
        'emulator directly',
        '/v1/ask',
        '/v1/ask − emulated latency',
        '/v1/ask − emulator directly',
        '/v1/ask answers/s (of the ceiling clients ÷ latency)',
        'emulator directly req/s',
        'failed',
      ],
      rows,
    ),
    '',
    ...verdicts.filter(Boolean).map((line) => `- ${line as string}`),
  ].join('\n');
}

/** A conversation whose last question is a follow-up: the service condenses it before retrieval. */
const HISTORY = [
  { role: 'user', content: QUESTION },
  { role: 'assistant', content: `They say a good deal about ${randomWords(random, 4)}.` },
];
const FOLLOW_UP = 'And what else do they say about it?';

interface ChatCalls {
  condense: number;
  answer: number;
}

interface RewriteCost {
  direct: number;
  rewrite: number;
  withHistory: number;
  withoutHistory: number;
  callsWithout: ChatCalls;
  callsWith: ChatCalls;
  rounds: number;
}

/**
 * Rounds of (the condense request at the emulator directly, /v1/ask with history, /v1/ask
 * without), one call at a time, with the emulator's count of chat completions around the asks.
 */
async function rewriteCost(nim: Process, service: Process): Promise<RewriteCost> {
  progress(`1 client, ${BREAKDOWN_ROUNDS} sequential rounds: the cost of a follow-up's rewrite`);
  const condenseBody = {
    model: LLM_MODEL,
    messages: [{ role: 'system', content: CONDENSE_INSTRUCTIONS }, ...HISTORY, { role: 'user', content: FOLLOW_UP }],
    temperature: 0,
    max_tokens: 96,
    stream: false,
  };
  const samples = { direct: [] as number[], rewrite: [] as number[], withHistory: [] as number[], withoutHistory: [] as number[] };
  const calls = () => askHelper<ChatCalls>(nim.child, 'chat-calls');
  const delta = (after: ChatCalls, before: ChatCalls): ChatCalls => ({ condense: after.condense - before.condense, answer: after.answer - before.answer });
  let callsWith: ChatCalls = { condense: 0, answer: 0 };
  let callsWithout: ChatCalls = { condense: 0, answer: 0 };
  for (let round = 0; round < BREAKDOWN_ROUNDS; round++) {
    samples.direct.push((await timed(() => postJson(`${nim.url}/chat/completions`, condenseBody))).ms);
    const before = await calls();
    const followed = await timed(() => postJson<{ timings: { rewrite_ms: number } }>(`${service.url}/v1/ask`, { messages: [...HISTORY, { role: 'user', content: FOLLOW_UP }], k: K }));
    const between = await calls();
    const single = await timed(() => postJson(`${service.url}/v1/ask`, { question: FOLLOW_UP, k: K }));
    const after = await calls();
    samples.rewrite.push(followed.result.timings.rewrite_ms);
    samples.withHistory.push(followed.ms);
    samples.withoutHistory.push(single.ms);
    const w = delta(between, before);
    const wo = delta(after, between);
    callsWith = { condense: callsWith.condense + w.condense, answer: callsWith.answer + w.answer };
    callsWithout = { condense: callsWithout.condense + wo.condense, answer: callsWithout.answer + wo.answer };
  }
  return {
    direct: median(samples.direct),
    rewrite: median(samples.rewrite),
    withHistory: median(samples.withHistory),
    withoutHistory: median(samples.withoutHistory),
    callsWith,
    callsWithout,
    rounds: BREAKDOWN_ROUNDS,
  };
}

function rewriteReport(cost: RewriteCost): string {
  const added = cost.rewrite - LLM_LATENCY_MS;
  const overDirect = cost.rewrite - cost.direct;
  const rows: Array<[string, number, string]> = [
    ['condense request at the emulator directly', cost.direct, `the floor: ${ms(cost.direct - LLM_LATENCY_MS)} ms over the emulated ${LLM_LATENCY_MS} ms is HTTP and the emulator (${(cost.direct / LLM_LATENCY_MS).toFixed(3)}× the emulated latency)`],
    ['service: rewrite_ms (follow-up)', cost.rewrite, `${ms(added)} ms over the emulated ${LLM_LATENCY_MS} ms (${(cost.rewrite / LLM_LATENCY_MS).toFixed(3)}×); ${ms(cost.rewrite - cost.direct)} ms over the direct call (${(cost.rewrite / cost.direct).toFixed(3)}×): prompt, chat model, parser, cleaning`],
    ['/v1/ask with history, as the client sees it', cost.withHistory, `${ms(cost.withHistory - cost.withoutHistory)} ms more than without (${(cost.withHistory / cost.withoutHistory).toFixed(3)}×): one more model call`],
    ['/v1/ask without history, as the client sees it', cost.withoutHistory, ''],
  ];
  const per = (calls: ChatCalls) => `${(calls.condense / cost.rounds).toFixed(2)} condense + ${(calls.answer / cost.rounds).toFixed(2)} answer`;
  return [
    `The rewrite's cost (1 client, ${cost.rounds} sequential rounds of: the condense request sent to the emulator directly, /v1/ask with one earlier turn, /v1/ask without; medians in ms; the emulator answers every chat completion after ${LLM_LATENCY_MS} ms):`,
    '',
    markdownTable(['what', 'p50 ms', 'reading'], rows.map(([what, value, reading]) => [what, value.toFixed(2), reading])),
    '',
    `- Added latency p50 of the rewrite over the emulated LLM's own latency for the same condense request (sent directly, same rounds): ${ms(overDirect)} ms (target ≤ ${TARGET_REWRITE_OVERHEAD_P50_MS} ms): ${overDirect <= TARGET_REWRITE_OVERHEAD_P50_MS ? 'met' : 'missed'}; over the configured ${LLM_LATENCY_MS} ms alone, HTTP and the emulator's floor included: ${ms(added)} ms.`,
    `- NIM chat completions per request, counted by the emulator: with history ${per(cost.callsWith)}; without history ${per(cost.callsWithout)} (target: no condense call): ${cost.callsWithout.condense === 0 && cost.callsWithout.answer === cost.rounds ? 'met' : 'missed'}.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const dataDir = await corpusStore(CHUNKS);
  let nim: Process | undefined;
  let service: Process | undefined;
  try {
    nim = await startNim({ models: [EMBED_MODEL, LLM_MODEL], dimensions: DIMENSIONS, chatLatencyMs: LLM_LATENCY_MS });
    const env = { DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, NIM_LLM_URL: nim.url, NIM_LLM_MODEL: LLM_MODEL };
    service = await startService(env);
    const pairs = await measure(nim, service);
    const parts = await breakdown(nim, service);
    const rewrite = await rewriteCost(nim, service);
    // The tracing runs start services of their own on the same DATA_DIR, which one process holds at a time.
    await stop(service);
    service = undefined;
    const tracing = await tracingCost({ env, url: '/v1/ask', body: { question: QUESTION, k: K }, ...tracingLoad(flags.quick) });
    const body = [report(pairs), '', breakdownReport(parts), '', rewriteReport(rewrite), '', tracingCostReport(tracing)].join('\n');
    print(body);
    await writeResultsSection({ id: 'bench:ask', title: 'Ask overhead (bench:ask)', body });
  } finally {
    await stop(service);
    await stop(nim);
  }
}

await main();
