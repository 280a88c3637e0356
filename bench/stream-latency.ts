import { EMBED_MODEL, LLM_MODEL } from '../test/support/nim-emulator.js';
import { chatRequestLikeTheChain, corpusStore, DIMENSIONS, type Process, startNim, startService, stop } from './serving.js';
import { benchFlags, count, markdownTable, ms, print, progress, randomWords, seededRandom, summarize, type Summary, writeResultsSection } from './support.js';

/**
 * bench:stream — time to the first token of a streamed answer. POST /v1/ask with
 * `Accept: text/event-stream` over 100,000 chunks, timed from sending the request to receiving
 * the first `token` event, with the NIM emulator sending its first token FIRST_TOKEN_MS after a
 * streamed chat request; in the same run, the emulator's stream called directly, timed to its
 * first content chunk. Sequentially (1 client) and with CONCURRENT clients at once.
 */

const flags = benchFlags();
const CHUNKS = flags.quick ? 10_000 : 100_000;
const REQUESTS = flags.quick ? 20 : 100;
const CONCURRENT = 16;
const FIRST_TOKEN_MS = 200;
const TOKEN_INTERVAL_MS = 5;
const K = 4;

const random = seededRandom(9);
const QUESTION = `What do the documents say about ${randomWords(random, 3)}?`;

/** Milliseconds from sending a POST until `marker` first appears in the streamed body; the rest is read and dropped. */
async function timeToFirst(url: string, body: unknown, marker: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(body) });
  if (!response.ok || !response.body) throw new Error(`POST ${url} answered ${response.status}`);
  const decoder = new TextDecoder();
  let seen = '';
  let first: number | undefined;
  for await (const piece of response.body) {
    if (first === undefined) {
      seen += decoder.decode(piece, { stream: true });
      if (seen.includes(marker)) first = performance.now() - started;
    }
  }
  if (first === undefined) throw new Error(`no ${marker} in the stream from ${url}`);
  return first;
}

/** `total` requests, `clients` at a time; the first-token times of all of them. */
async function sample(total: number, clients: number, once: () => Promise<number>): Promise<Summary> {
  const times: number[] = [];
  let sent = 0;
  const client = async () => {
    while (sent < total) {
      sent += 1;
      times.push(await once());
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return summarize(times);
}

async function main(): Promise<void> {
  const dataDir = await corpusStore(CHUNKS);
  let nim: Process | undefined;
  let service: Process | undefined;
  try {
    nim = await startNim({ models: [EMBED_MODEL, LLM_MODEL], dimensions: DIMENSIONS, chatLatencyMs: FIRST_TOKEN_MS, tokenIntervalMs: TOKEN_INTERVAL_MS });
    service = await startService({ DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, NIM_LLM_URL: nim.url, NIM_LLM_MODEL: LLM_MODEL });
    const askUrl = `${service.url}/v1/ask`;
    const chatUrl = `${nim.url}/chat/completions`;
    const ask = () => timeToFirst(askUrl, { question: QUESTION, k: K }, 'event: token');
    const direct = () => timeToFirst(chatUrl, chatRequestLikeTheChain(random, QUESTION, K, true), '"content"');
    progress('warming up');
    await sample(10, 4, ask);
    const rows: Array<Array<string | number>> = [];
    for (const clients of [1, CONCURRENT]) {
      progress(`${count(REQUESTS)} streams, ${clients} at a time: the emulator directly, then /v1/ask`);
      const floor = await sample(REQUESTS, clients, direct);
      const ours = await sample(REQUESTS, clients, ask);
      rows.push([
        clients,
        `${ms(floor.p50)} / ${ms(floor.p99)}`,
        `${ms(ours.p50)} / ${ms(ours.p99)}`,
        `${ms(ours.p50 - FIRST_TOKEN_MS)} / ${ms(ours.p99 - FIRST_TOKEN_MS)}`,
        `${ms(ours.p50 - floor.p50)} / ${ms(ours.p99 - floor.p99)}`,
      ]);
    }
    const body = [
      `Parameters: ${count(CHUNKS)} chunks (clustered ${DIMENSIONS}-dimensional vectors in the HNSW graph), k ${K}, ${count(REQUESTS)} streams per row; the NIM emulator (its own process) sends its first token ${FIRST_TOKEN_MS} ms after a streamed chat request and one every ${TOKEN_INTERVAL_MS} ms after, and embeds at once. Times in ms from sending the request, p50 / p99.`,
      '',
      markdownTable(
        ['clients at once', 'emulator directly: first content chunk', '/v1/ask: first token event', '/v1/ask − emulated first token', '/v1/ask − emulator directly'],
        rows,
      ),
    ].join('\n');
    print(body);
    await writeResultsSection({ id: 'bench:stream', title: 'Time to first token (bench:stream)', body });
  } finally {
    await stop(service);
    await stop(nim);
  }
}

await main();
