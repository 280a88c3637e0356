import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { EMBED_MODEL } from '../test/support/nim-emulator.js';
import { readProfile, summarizeProfile, summaryTable } from './cpu-profile-summary.js';
import { DIMENSIONS, processCpuMs, startNim, startService, stop } from './serving.js';
import { count, postJson, print, progress, randomWords, REPOSITORY_ROOT, seededRandom, temporaryDir } from './support.js';

/**
 * Where the service's CPU goes per ingested chunk: the built service (dist/server.js, `npm run
 * build` first) under `node --cpu-prof`, CHUNKS one-chunk documents of about 100 words through
 * POST /v1/documents (BATCH a request, IN_FLIGHT requests at once, as bench:wire), the NIM
 * emulator (no latency) in its own process. The profile is cut to the ingest (and, past
 * EXACT_SEARCH_MAX_CHUNKS, to the graph catch-up after it) and summed by category by
 * bench/cpu-profile-summary.ts; the process CPU (/proc, every thread) is given beside it.
 *
 *   npm run build && tsx bench/profile-ingest.ts [--chunks 5000] [--batch 100] [--in-flight 4] [--keep DIR]
 */

const { values } = parseArgs({
  options: {
    chunks: { type: 'string', default: '5000' },
    batch: { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '4' },
    keep: { type: 'string' },
  },
});
const CHUNKS = Number(values.chunks);
const BATCH = Number(values.batch);
const IN_FLIGHT = Number(values['in-flight']);

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

const random = seededRandom(11);
const texts = Array.from({ length: CHUNKS + BATCH }, (_, index) => `${index} ${randomWords(random, 100)}`);

async function exactTierEmpty(url: string): Promise<void> {
  for (;;) {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    if (/^rag_store_chunks\{collection="default",tier="exact"\} 0$/m.test(metrics)) return;
    await sleep(100);
  }
}

const profileDir = values.keep ?? (await temporaryDir('profile-ingest'));
const dataDir = await temporaryDir('profile-ingest-data');
const nim = await startNim({ dimensions: DIMENSIONS, models: [EMBED_MODEL] });
const service = await startService(
  { DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, LLM_PROVIDER: 'local' },
  REPOSITORY_ROOT,
  ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=250'],
);
try {
  const url = `${service.url}/v1/documents`;
  const batch = (offset: number) => ({ documents: texts.slice(offset, offset + BATCH).map((text, index) => ({ id: `doc-${offset + index}`, text })) });
  await postJson(url, batch(0));
  progress(`ingesting ${count(CHUNKS)} chunks`);
  const from = monotonicMicros();
  const cpuBefore = processCpuMs(service.child);
  let next = BATCH;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < BATCH + CHUNKS) {
        const offset = next;
        next += BATCH;
        await postJson(url, batch(offset));
      }
    }),
  );
  const to = monotonicMicros();
  const cpuIngest = processCpuMs(service.child) - cpuBefore;
  // A collection no larger than EXACT_SEARCH_MAX_CHUNKS never goes into the graph.
  if (BATCH + CHUNKS > loadConfig({}).hnsw.exactSearchMaxChunks) await exactTierEmpty(service.url);
  const graphTo = monotonicMicros();
  const cpuGraph = processCpuMs(service.child) - cpuBefore - cpuIngest;
  await stop(service);
  const file = (await readdir(profileDir)).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${profileDir}`);
  const profile = await readProfile(join(profileDir, file));
  print(`Ingest of ${count(CHUNKS)} chunks: ${((to - from) / 1e6).toFixed(2)} s; process CPU ${cpuIngest.toFixed(0)} ms = ${((cpuIngest * 1000) / CHUNKS).toFixed(1)} µs per chunk (every thread).\n`);
  print(summaryTable(summarizeProfile(profile, { from, to }), { count: CHUNKS, unit: 'chunk', cpuMicros: cpuIngest * 1000 }));
  if (graphTo - to > 200_000) {
    print(`\nGraph catch-up after the last reply: ${((graphTo - to) / 1e6).toFixed(2)} s; process CPU ${cpuGraph.toFixed(0)} ms.\n`);
    print(summaryTable(summarizeProfile(profile, { from: to, to: graphTo }), { count: CHUNKS, unit: 'chunk', cpuMicros: cpuGraph * 1000 }));
  }
  print(`\nprofile: ${join(profileDir, file)} (window ${from}–${to} µs)`);
} finally {
  await stop(service);
  await stop(nim);
  await rm(dataDir, { recursive: true, force: true });
}
