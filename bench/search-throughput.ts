import { EMBED_MODEL } from '../test/support/nim-emulator.js';
import { corpusStore, DIMENSIONS, load, type LoadResult, type Process, startHello, startNim, startService, stop } from './serving.js';
import { benchFlags, count, markdownTable, median, ms, print, progress, writeResultsSection } from './support.js';

/**
 * bench:rps — requests per second of POST /v1/search over 100,000 chunks, against Fastify's
 * hello-world route in its own process, alternating in one run: the ratio is what embedding the
 * query (at the NIM emulator, which answers at once), searching the graph and serialising k
 * chunks cost beyond a bare HTTP round trip.
 */

const flags = benchFlags();
const CHUNKS = flags.quick ? 10_000 : 100_000;
const SECONDS = flags.quick ? 4 : 15;
const ROUNDS = flags.quick ? 1 : 3;
const CONNECTIONS = 64;
const K = 10;
const QUERY = 'What do the documents say about kalo mine?';

const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(2)}%`;

interface Round {
  hello: LoadResult;
  search: LoadResult;
}

async function measure(hello: Process, service: Process): Promise<Round[]> {
  progress('warming up');
  await load({ url: `${service.url}/v1/search`, connections: 8, seconds: 3, body: { query: QUERY, k: K } });
  const rounds: Round[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`round ${round} of ${ROUNDS}: hello world, then /v1/search, ${SECONDS} s each at ${CONNECTIONS} connections`);
    const helloRun = await load({ url: hello.url, connections: CONNECTIONS, seconds: SECONDS });
    const searchRun = await load({ url: `${service.url}/v1/search`, connections: CONNECTIONS, seconds: SECONDS, body: { query: QUERY, k: K } });
    rounds.push({ hello: helloRun, search: searchRun });
  }
  return rounds;
}

function report(rounds: Round[]): string {
  const rows = rounds.map(({ hello, search }, index) => [
    index + 1,
    hello.rps.toFixed(0),
    `${ms(hello.p50)} / ${ms(hello.p99)}`,
    search.rps.toFixed(0),
    `${ms(search.p50)} / ${ms(search.p99)}`,
    percent(search.rps, hello.rps),
    `${search.failures + hello.failures}`,
  ]);
  const searchRps = median(rounds.map((round) => round.search.rps));
  const helloRps = median(rounds.map((round) => round.hello.rps));
  return [
    `Parameters: ${count(CHUNKS)} chunks (clustered ${DIMENSIONS}-dimensional vectors in the HNSW graph), k ${K}, ${CONNECTIONS} autocannon connections, ${SECONDS} s per run, ${ROUNDS} rounds alternating; the query is embedded by the NIM emulator (its own process, no added latency); hello world is Fastify's \`{"hello":"world"}\` route in another process. Latencies in ms, p50 / p99.`,
    '',
    markdownTable(['round', 'hello world req/s', 'hello world latency', '/v1/search req/s', '/v1/search latency', 'search ÷ hello world', 'failed'], rows),
    '',
    `- Median: /v1/search ${searchRps.toFixed(0)} req/s, hello world ${helloRps.toFixed(0)} req/s: search serves ${percent(searchRps, helloRps)} of the requests a bare round trip does, 1 for every ${(helloRps / searchRps).toFixed(0)}.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const dataDir = await corpusStore(CHUNKS);
  let nim: Process | undefined;
  let service: Process | undefined;
  let hello: Process | undefined;
  try {
    nim = await startNim({ models: [EMBED_MODEL], dimensions: DIMENSIONS });
    service = await startService({ DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, LLM_PROVIDER: 'local' });
    hello = await startHello();
    const body = report(await measure(hello, service));
    print(body);
    await writeResultsSection({ id: 'bench:rps', title: 'Search throughput against hello world (bench:rps)', body });
  } finally {
    await stop(hello);
    await stop(service);
    await stop(nim);
  }
}

await main();
