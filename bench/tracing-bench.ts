import { execFileSync } from 'node:child_process';
import { EMBED_MODEL, LLM_MODEL } from '../test/support/nim-emulator.js';
import { checkoutTree } from './checkout-tree.js';
import { corpusStore, DIMENSIONS, type Process, startNim, stop } from './serving.js';
import { benchFlags, print, randomWords, REPOSITORY_ROOT, seededRandom } from './support.js';
import { type TracingTree, tracingCost, tracingCostReport, tracingLoad } from './tracing-cost.js';

/**
 * bench:tracing — bench:ask's tracing part alone (bench/tracing-cost.ts), on the same store, NIM
 * emulator and question. With BENCH_BASELINE (a git ref, `main` say) the baseline's service, checked
 * out and built beside this one, runs its own off and on services in the same rounds, so a change
 * to tracing's cost is read as before and after under the same load. Prints; writes no results.
 */

const flags = benchFlags();
const CHUNKS = flags.quick ? 10_000 : 100_000;
const LLM_LATENCY_MS = 200;
const K = 4;
const QUESTION = `What do the documents say about ${randomWords(seededRandom(5), 3)}?`;
const BASELINE = process.env.BENCH_BASELINE;

const commit = (ref: string) => execFileSync('git', ['rev-parse', '--short', ref], { cwd: REPOSITORY_ROOT, encoding: 'utf8' }).trim();

async function main(): Promise<void> {
  const dataDir = await corpusStore(CHUNKS);
  const trees: TracingTree[] = [
    ...(BASELINE ? [{ name: `before: ${BASELINE} (${commit(BASELINE)})`, root: await checkoutTree(BASELINE) }] : []),
    { name: BASELINE ? `after: this checkout (${commit('HEAD')})` : 'this checkout', root: REPOSITORY_ROOT },
  ];
  let nim: Process | undefined;
  try {
    nim = await startNim({ models: [EMBED_MODEL, LLM_MODEL], dimensions: DIMENSIONS, chatLatencyMs: LLM_LATENCY_MS });
    const env = { DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, NIM_LLM_URL: nim.url, NIM_LLM_MODEL: LLM_MODEL };
    print(tracingCostReport(await tracingCost({ env, url: '/v1/ask', body: { question: QUESTION, k: K }, trees, ...tracingLoad(flags.quick) })));
  } finally {
    await stop(nim);
  }
}

await main();
