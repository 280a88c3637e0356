import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { loadConfig } from '../../src/config.js';
import { RetrievalService, type RetrievalMode } from '../../src/services/retrieval-service.js';
import { contentHash } from '../../src/store/content-hash.js';
import { EmbeddedStore } from '../../src/store/embedded-store.js';
import { HnswStore } from '../../src/store/hnsw-store.js';
import { EMBED_MODEL } from '../../test/support/nim-emulator.js';
import { startNim } from '../serving.js';
import { clusteredVectors, markdownTable, percentile, postJson, progress, randomUnitVectors, randomWords, seededRandom, silentLogger, stopChild, temporaryDir } from '../support.js';

/**
 * Search latency per retrieval mode on the embedded store at scale: `chunks` chunks of about 150
 * pseudo-words (1,000 characters, CHUNK_SIZE's default) from a 5,000-word vocabulary with a
 * skewed frequency, each with a clustered vector, the graph fully built with the default HNSW
 * settings; queries of 2 to 5 words through RetrievalService.search (k 10), once with their vectors
 * ready (the store's and the fusion's time alone) and once embedded first by the NIM emulator in a
 * process of its own, as a search on the service is served.
 */

const DIMENSIONS = 128;
const QUERIES = 300;
const WARM_UP = 20;
const BATCH = 1000;
const MODES: RetrievalMode[] = ['vector', 'keyword', 'hybrid'];

export async function measureLatencyAtScale(chunks: number): Promise<string> {
  const config = loadConfig({});
  const dataDir = await temporaryDir('bench-retrieval-scale-');
  const hnsw = await HnswStore.open({
    dataDir,
    hnsw: config.hnsw,
    embeddingModel: 'bench-vectors',
    embeddingDimensions: DIMENSIONS,
    logger: silentLogger,
    snapshotEveryChunks: 10_000_000,
    snapshotIntervalMs: 86_400_000,
  });
  const store = new EmbeddedStore(hnsw);
  const random = seededRandom(2025);
  const centres = randomUnitVectors(1000, DIMENSIONS, 7);
  const vectors = clusteredVectors(chunks, { centres, noise: 0.5 }, 8);
  const collection = await store.getOrCreate('scale');
  const started = performance.now();
  for (let start = 0; start < chunks; start += BATCH) {
    const writes = Array.from({ length: Math.min(BATCH, chunks - start) }, (_, offset) => {
      const text = randomWords(random, 150);
      return { id: `chunk-${start + offset}`, text, metadata: {}, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]] as Array<[number, number]>, vectors: [vectors.row(start + offset)] };
    });
    await collection.upsert(writes);
    if ((start / BATCH) % 10 === 0) progress(`scale: ${start + writes.length} chunks written`);
  }
  const written = performance.now();
  await hnsw.get('scale')?.indexed();
  const built = performance.now();
  progress(`scale: written in ${((written - started) / 1000).toFixed(1)} s, graph caught up after ${((built - written) / 1000).toFixed(1)} s`);

  const queryVectors = clusteredVectors(QUERIES + WARM_UP, { centres, noise: 0.5 }, 9);
  // Words drawn as the chunks' words are (the most frequent ones, in most chunks, act as stopwords the tokenizer does not know), or uniformly from the vocabulary (content words, each in a few percent of the chunks).
  const querySets = {
    'skewed words': Array.from({ length: QUERIES + WARM_UP }, (_, index) => randomWords(random, 2 + (index % 4))),
    'content words': Array.from({ length: QUERIES + WARM_UP }, (_, index) => randomWords(() => Math.sqrt(random()), 2 + (index % 4))),
  };
  const vectorOf = new Map(Object.values(querySets).flatMap((texts) => texts.map((text, index) => [text, queryVectors.row(index)] as const)));
  const embedder = {
    model: 'bench-vectors',
    embedQuery: async (text: string) => vectorOf.get(text) as number[],
    embedDocuments: async () => [],
    embedQueries: async () => [],
  };
  // The same, with each query first embedded by the NIM emulator in a process of its own (a NIM is never on the service's thread) over loopback, answering at once: the least a vector search pays for its query vector.
  const nim = await startNim({ models: [EMBED_MODEL], dimensions: DIMENSIONS });
  const viaNim = {
    ...embedder,
    embedQuery: async (text: string) => {
      await postJson(`${nim.url}/embeddings`, { input: [text], model: EMBED_MODEL, input_type: 'query', encoding_format: 'float' });
      return vectorOf.get(text) as number[];
    },
  };
  const retrievals = { 'query vector ready': new RetrievalService(store, embedder, undefined, config.retrieval), 'query embedded by the emulated NIM': new RetrievalService(store, viaNim, undefined, config.retrieval) };
  const rows: Array<Array<string>> = [];
  const ratios: string[] = [];
  for (const [setting, retrieval] of Object.entries(retrievals)) for (const [queryKind, texts] of Object.entries(querySets)) {
    const name = `${queryKind}, ${setting}`;
    const samples = new Map<RetrievalMode, number[]>(MODES.map((mode) => [mode, []]));
    const cpu = new Map<RetrievalMode, number[]>(MODES.map((mode) => [mode, []]));
    for (const [index, text] of texts.entries()) {
      for (const mode of MODES) {
        const begun = performance.now();
        const cpuBefore = process.cpuUsage();
        await retrieval.search({ query: text, k: 10, collection: 'scale', retrieval: { mode } });
        const { user, system } = process.cpuUsage(cpuBefore);
        if (index >= WARM_UP) {
          samples.get(mode)?.push(performance.now() - begun);
          cpu.get(mode)?.push((user + system) / 1000);
        }
      }
    }
    const at = (mode: RetrievalMode, p: number, from = samples) => percentile([...(from.get(mode) ?? [])].sort((a, b) => a - b), p);
    for (const mode of MODES) rows.push([name, mode, `${at(mode, 50).toFixed(2)} ms`, `${at(mode, 95).toFixed(2)} ms`, `${at(mode, 50, cpu).toFixed(2)} ms`]);
    ratios.push(`${name}: **${(at('hybrid', 50) / at('vector', 50)).toFixed(2)}×** (CPU ${(at('hybrid', 50, cpu) / at('vector', 50, cpu)).toFixed(2)}×)`);
  }
  await stopChild(nim.child);
  await store.close();
  await rm(dataDir, { recursive: true, force: true });

  return [
    `### Search latency per mode at ${chunks.toLocaleString('en-US')} chunks (embedded store)`,
    '',
    `${chunks.toLocaleString('en-US')} chunks of ~150 pseudo-words (5,000-word vocabulary, skewed), ${DIMENSIONS}-dimensional clustered vectors, default HNSW settings (graph caught up: written in ${((written - started) / 1000).toFixed(0)} s, graph ${((built - written) / 1000).toFixed(0)} s more); ${QUERIES} queries of 2–5 words of each kind, k 10, each mode in turn per query, through RetrievalService.search, once with the query vector ready (the store's and the fusion's time alone) and once with the query embedded first by the NIM emulator, in its own process as a NIM always is, over loopback (answering at once; keyword mode makes no embedding call; hybrid mode searches keywords while the embedding is on its way). Hybrid takes RETRIEVAL_CANDIDATES (${config.retrieval.candidates}) from each list. CPU p50: the process's user + system CPU time per search (less exposed to other processes on a shared machine than the wall time). Load average at the end: ${loadavg().map((load) => load.toFixed(2)).join(', ')}.`,
    '',
    markdownTable(['queries', 'mode', 'p50', 'p95', 'CPU p50'], rows),
    '',
    `Hybrid p50 / vector p50 (target ≤ 1.5×): ${ratios.join('; ')}.`,
  ].join('\n');
}
