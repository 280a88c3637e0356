import { rm } from 'node:fs/promises';
import hnswlib from 'hnswlib-node';
import { loadConfig } from '../src/config.js';
import { contentHash, type DocumentWrite, type HnswParameters } from '../src/store/hnsw-collection.js';
import { HnswStore } from '../src/store/hnsw-store.js';
import {
  benchFlags,
  clusteredVectors,
  count,
  loadLangChainHnswLib,
  markdownTable,
  ms,
  print,
  progress,
  randomUnitVectors,
  ratio,
  silentLogger,
  summarize,
  temporaryDir,
  timed,
  type VectorSet,
  writeResultsSection,
} from './support.js';

/**
 * bench:search — recall@10 and search latency of the store (graph and exact tier), LangChain's
 * HNSWLib and brute force, on the same synthetic 1024-dimensional vectors in one run.
 */

const flags = benchFlags();
const SIZE = flags.quick ? 10_000 : 100_000;
const QUERIES = flags.quick ? 200 : 300;
const DIMENSIONS = 1024;
const K = 10;
const CENTRES = 1000;
const CLUSTER_NOISE = 0.5;
const EF_SWEEP = [64, 128, 256, 512];
/** Past the fixed sweep, ef keeps doubling while recall is short of the target and the graph still beats brute force, up to HNSW_EF_SEARCH's ceiling. */
const EF_SWEEP_LIMIT = 5000;
const TARGET_RECALL = 0.98;
/** The plain JavaScript scan is slow; a subset of the queries is enough to time it and to check the ground truth. */
const JS_SCAN_QUERIES = 50;
const WARM_UP_QUERIES = 10;
const STORE_BATCH = 1000;
const LANGCHAIN_BATCH = 10_000;
/** What hnswlib searches with when nobody sets ef, as LangChain's HNSWLib does not. */
const LANGCHAIN_DEFAULT_EF = 10;

const config = loadConfig({});
const DEFAULTS: HnswParameters = config.hnsw;

interface Searcher {
  name: string;
  /** Rows of the data set, best first. */
  search(query: number[]): number[] | Promise<number[]>;
  /** Only the first this many queries are timed (slow systems). */
  queryLimit?: number;
}

interface Built {
  searcher: Searcher;
  buildMs: number;
  note: string;
  close(): Promise<void>;
}

interface Measured {
  searcher: Searcher;
  latencies: number[];
  results: number[][];
}

// ---- systems ---------------------------------------------------------------------------------

function buildBruteforce(points: VectorSet): Built {
  const started = performance.now();
  const scan = new hnswlib.BruteforceSearch('cosine', DIMENSIONS);
  scan.initIndex(points.size);
  for (let row = 0; row < points.size; row++) scan.addPoint(points.row(row), row);
  return {
    searcher: { name: 'brute force (hnswlib BruteforceSearch)', search: (query) => scan.searchKnn(query, K).neighbors },
    buildMs: performance.now() - started,
    note: 'ground truth',
    close: async () => undefined,
  };
}

/** Cosine as a dot product: every vector of the data sets is already of unit length. */
function jsScan(points: VectorSet): Searcher {
  const { data, dimensions, size } = points;
  return {
    name: 'brute force (plain JS scan)',
    queryLimit: JS_SCAN_QUERIES,
    search: (query) => {
      const best: Array<{ row: number; score: number }> = [];
      for (let row = 0; row < size; row++) {
        let score = 0;
        const offset = row * dimensions;
        for (let i = 0; i < dimensions; i++) score += (data[offset + i] as number) * (query[i] as number);
        if (best.length === K && score <= (best[K - 1] as { score: number }).score) continue;
        best.push({ row, score });
        best.sort((a, b) => b.score - a.score);
        if (best.length > K) best.pop();
      }
      return best.map((hit) => hit.row);
    },
  };
}

const storeWrite = (points: VectorSet, row: number): DocumentWrite => {
  const text = `vector ${row}`;
  return { id: String(row), text, metadata: {}, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]], vectors: [points.row(row)] };
};

function openStore(dataDir: string, hnsw: HnswParameters): Promise<HnswStore> {
  return HnswStore.open({
    dataDir,
    hnsw,
    embeddingModel: 'bench-synthetic',
    embeddingDimensions: DIMENSIONS,
    logger: silentLogger,
    snapshotEveryChunks: config.snapshots.everyChunks,
    snapshotIntervalMs: config.snapshots.intervalMs,
  });
}

async function storeSearcher(store: HnswStore, name: string): Promise<Searcher> {
  const collection = await store.getOrCreate('bench');
  return { name, search: (query) => collection.searchVector(query, K).map((hit) => Number(hit.document.id)) };
}

interface BuiltStore extends Built {
  dataDir: string;
  hnsw: HnswParameters;
  graph: boolean;
}

/** Ingests every point (acknowledged, so through the fsynced log) and waits until the graph has caught up. */
async function buildStore(points: VectorSet, variant: StoreVariant): Promise<BuiltStore> {
  const dataDir = await temporaryDir('bench-search-');
  const store = await openStore(dataDir, variant.hnsw);
  const collection = await store.getOrCreate('bench');
  const { ms: buildMs } = await timed(async () => {
    for (let start = 0; start < points.size; start += STORE_BATCH) {
      const end = Math.min(points.size, start + STORE_BATCH);
      await collection.upsert(Array.from({ length: end - start }, (_, offset) => storeWrite(points, start + offset)));
    }
    await collection.indexed();
  });
  const { exact, graph } = collection.vectorCounts();
  return {
    searcher: await storeSearcher(store, variant.name),
    buildMs,
    note: `exact tier ${count(exact)}, graph ${count(graph)}; build = acknowledged writes (fsynced log, snapshots) + graph caught up`,
    dataDir,
    hnsw: variant.hnsw,
    graph: variant.graph,
    close: () => store.close(),
  };
}

interface LangChainStore {
  addVectors(vectors: number[][], documents: Array<{ pageContent: string; metadata: Record<string, unknown> }>): Promise<void>;
  similaritySearchVectorWithScore(query: number[], k: number): Promise<Array<[{ metadata: { row: number } }, number]>>;
  index: { setEf(ef: number): void };
}

type LangChainConstructor = new (embeddings: unknown, args: { space: 'cosine'; numDimensions: number }) => LangChainStore;

/** HNSWLib only needs embeddings to embed texts; vectors are handed to it directly here. */
const noEmbeddings = {
  embedQuery: () => Promise.reject(new Error('vectors are passed directly')),
  embedDocuments: () => Promise.reject(new Error('vectors are passed directly')),
};

async function buildLangChain(HNSWLib: LangChainConstructor, points: VectorSet): Promise<{ built: Built; store: LangChainStore }> {
  const store = new HNSWLib(noEmbeddings, { space: 'cosine', numDimensions: DIMENSIONS });
  const { ms: buildMs } = await timed(async () => {
    for (let start = 0; start < points.size; start += LANGCHAIN_BATCH) {
      const end = Math.min(points.size, start + LANGCHAIN_BATCH);
      const documents = Array.from({ length: end - start }, (_, offset) => ({ pageContent: `vector ${start + offset}`, metadata: { row: start + offset } }));
      await store.addVectors(points.rows(start, end), documents);
    }
  });
  const searcher: Searcher = {
    name: 'LangChain HNSWLib (defaults: M 16, efConstruction 200, ef 10)',
    search: async (query) => (await store.similaritySearchVectorWithScore(query, K)).map(([document]) => document.metadata.row),
  };
  return { built: { searcher, buildMs, note: 'in memory only, no log', close: async () => undefined }, store };
}

// ---- measurement -----------------------------------------------------------------------------

/**
 * Times every system on every query, interleaved (query by query, in rotating order), so that the
 * machine's noise falls on all of them alike and the ratios between them hold.
 */
async function measure(searchers: Searcher[], queries: VectorSet): Promise<Measured[]> {
  const measured = searchers.map((searcher): Measured => ({ searcher, latencies: [], results: [] }));
  const queryRows = queries.rows(0, queries.size);
  for (const query of queryRows.slice(0, WARM_UP_QUERIES)) for (const searcher of searchers) await searcher.search(query);
  for (const [position, query] of queryRows.entries()) {
    for (let turn = 0; turn < measured.length; turn++) {
      const entry = measured[(position + turn) % measured.length] as Measured;
      if (position >= (entry.searcher.queryLimit ?? Infinity)) continue;
      const started = performance.now();
      const result = await entry.searcher.search(query);
      entry.latencies.push(performance.now() - started);
      entry.results.push(result);
    }
  }
  return measured;
}

function recallAt10(results: number[][], truth: number[][]): number {
  let found = 0;
  results.forEach((result, position) => {
    const expected = new Set(truth[position]);
    found += result.filter((row) => expected.has(row)).length;
  });
  return found / (results.length * K);
}

interface Row {
  system: string;
  buildMs: number | undefined;
  recall: number;
  p50: number;
  p99: number;
  speedUp: string;
  note: string;
}

function rowsOf(measured: Measured[], builds: Map<string, Built>): Row[] {
  const truth = (measured[0] as Measured).results;
  const bruteP50 = summarize((measured[0] as Measured).latencies).p50;
  return measured.map(({ searcher, latencies, results }) => {
    const { p50, p99 } = summarize(latencies);
    const built = builds.get(searcher.name);
    return {
      system: searcher.name,
      buildMs: built?.buildMs,
      recall: recallAt10(results, truth),
      p50,
      p99,
      speedUp: ratio(bruteP50, p50),
      note: `${built?.note ?? ''}${latencies.length < truth.length ? `${built ? '; ' : ''}${latencies.length} queries` : ''}`,
    };
  });
}

function table(rows: Row[]): string {
  return markdownTable(
    ['system', 'build s', 'recall@10', 'p50 ms', 'p99 ms', 'p50 speed-up vs brute force', 'notes'],
    rows.map((row) => [
      row.system,
      row.buildMs === undefined ? '–' : (row.buildMs / 1000).toFixed(1),
      row.recall.toFixed(3),
      ms(row.p50),
      ms(row.p99),
      row.speedUp,
      row.note,
    ]),
  );
}

// ---- one data set ----------------------------------------------------------------------------

interface DataSet {
  name: string;
  points: VectorSet;
  queries: VectorSet;
}

interface StoreVariant {
  name: string;
  hnsw: HnswParameters;
  graph: boolean;
}

/** The store's exact tier at defaults below EXACT_SEARCH_MAX_CHUNKS, its graph above; the other tier is built too, by moving the threshold. */
function storeVariants(): StoreVariant[] {
  const defaultsUseGraph = SIZE > DEFAULTS.exactSearchMaxChunks;
  const defaults = { name: `store, defaults (${defaultsUseGraph ? 'HNSW graph' : 'exact tier'}, ef ${DEFAULTS.efSearch})`, hnsw: DEFAULTS, graph: defaultsUseGraph };
  const other = defaultsUseGraph
    ? { name: 'store, exact tier (EXACT_SEARCH_MAX_CHUNKS above the size)', hnsw: { ...DEFAULTS, exactSearchMaxChunks: SIZE, maxIndexBacklog: SIZE }, graph: false }
    : { name: `store, HNSW graph (EXACT_SEARCH_MAX_CHUNKS=0, ef ${DEFAULTS.efSearch})`, hnsw: { ...DEFAULTS, exactSearchMaxChunks: 0 }, graph: true };
  return [defaults, other];
}

/** Reopens the graph store's DATA_DIR with each search ef (HNSW_EF_SEARCH), timing it beside brute force. */
async function efSweep(dataSet: DataSet, graphStore: BuiltStore, brute: Searcher): Promise<Row[]> {
  const rows: Row[] = [];
  const worthWidening = (last: { row: Row; bruteP50: number }) => last.row.recall < TARGET_RECALL && last.row.p50 < last.bruteP50;
  let last: { row: Row; bruteP50: number } | undefined;
  for (let efSearch = EF_SWEEP[0] as number; efSearch <= EF_SWEEP_LIMIT; efSearch *= 2) {
    if (!EF_SWEEP.includes(efSearch) && last && !worthWidening(last)) break;
    progress(`${dataSet.name}: HNSW_EF_SEARCH=${efSearch}`);
    const store = await openStore(graphStore.dataDir, { ...graphStore.hnsw, efSearch });
    const searcher = await storeSearcher(store, `store graph, HNSW_EF_SEARCH=${efSearch}`);
    const [bruteRow, row] = rowsOf(await measure([brute, searcher], dataSet.queries), new Map()) as [Row, Row];
    rows.push({ ...row, note: `brute force p50 in this pass ${ms(bruteRow.p50)} ms` });
    last = { row, bruteP50: bruteRow.p50 };
    await store.close();
  }
  return rows;
}

async function buildLangChainWithRaisedEf(HNSWLib: LangChainConstructor, points: VectorSet): Promise<Built[]> {
  const { built, store } = await buildLangChain(HNSWLib, points);
  const raised: Searcher = {
    name: `LangChain HNSWLib, same graph, ef raised to ${DEFAULTS.efSearch} (index.setEf)`,
    search: async (query) => {
      store.index.setEf(DEFAULTS.efSearch);
      const hits = await store.similaritySearchVectorWithScore(query, K);
      store.index.setEf(LANGCHAIN_DEFAULT_EF);
      return hits.map(([document]) => document.metadata.row);
    },
  };
  return [built, { searcher: raised, buildMs: built.buildMs, note: 'the graph above, searched wider', close: async () => undefined }];
}

interface DataSetResult {
  name: string;
  main: Row[];
  sweep: Row[];
}

async function benchmarkDataSet(dataSet: DataSet, HNSWLib: LangChainConstructor): Promise<DataSetResult> {
  progress(`${dataSet.name}: brute force`);
  const brute = buildBruteforce(dataSet.points);
  const stores: BuiltStore[] = [];
  try {
    return await timeDataSet(dataSet, HNSWLib, brute, stores);
  } finally {
    for (const store of stores) await rm(store.dataDir, { recursive: true, force: true });
  }
}

/** Builds the stores into `stores` (for the caller to remove), then times every system on the data set. */
async function timeDataSet(dataSet: DataSet, HNSWLib: LangChainConstructor, brute: Built, stores: BuiltStore[]): Promise<DataSetResult> {
  for (const variant of storeVariants()) {
    progress(`${dataSet.name}: ${variant.name}: ingesting ${count(SIZE)} vectors`);
    stores.push(await buildStore(dataSet.points, variant));
    progress(`${dataSet.name}: ${variant.name}: built in ${((stores.at(-1) as BuiltStore).buildMs / 1000).toFixed(1)} s`);
  }
  progress(`${dataSet.name}: LangChain HNSWLib`);
  const langchain = await buildLangChainWithRaisedEf(HNSWLib, dataSet.points);
  progress(`${dataSet.name}: LangChain HNSWLib built in ${((langchain[0] as Built).buildMs / 1000).toFixed(1)} s`);

  const all: Built[] = [brute, ...stores, ...langchain];
  const searchers = [brute.searcher, jsScan(dataSet.points), ...all.slice(1).map((built) => built.searcher)];
  progress(`${dataSet.name}: timing ${QUERIES} queries on every system, interleaved`);
  const main = rowsOf(await measure(searchers, dataSet.queries), new Map(all.map((built) => [built.searcher.name, built])));
  for (const built of all) await built.close();

  const sweep = await efSweep(dataSet, stores.find((store) => store.graph) as BuiltStore, brute.searcher);
  return { name: dataSet.name, main, sweep };
}

function dataSets(): Array<() => DataSet> {
  return [
    () => ({
      name: 'random unit vectors',
      points: randomUnitVectors(SIZE, DIMENSIONS, 1),
      queries: randomUnitVectors(QUERIES, DIMENSIONS, 2),
    }),
    () => {
      const shape = { centres: randomUnitVectors(CENTRES, DIMENSIONS, 3), noise: CLUSTER_NOISE };
      return { name: 'clustered', points: clusteredVectors(SIZE, shape, 4), queries: clusteredVectors(QUERIES, shape, 5) };
    },
  ];
}

// ---- report ----------------------------------------------------------------------------------

function verdict(result: DataSetResult): string {
  const brute = result.main[0] as Row;
  const store = result.main.find((row) => row.system.startsWith('store, defaults')) as Row;
  const met = store.recall >= TARGET_RECALL && store.p50 * 20 <= brute.p50;
  return (
    `${result.name}: store at defaults recall@10 ${store.recall.toFixed(3)} (target ≥ 0.98), p50 ${ms(store.p50)} ms = ` +
    `${ratio(brute.p50, store.p50)} faster than brute force (target ≥ 20×): ${met ? 'met' : 'missed'}`
  );
}

function report(results: DataSetResult[]): string {
  const parameters =
    `${count(SIZE)} vectors of ${DIMENSIONS} dimensions per set, ${QUERIES} queries (${WARM_UP_QUERIES} more as warm-up), k = ${K}; ` +
    `clustered set: ${CENTRES} centres, noise ${CLUSTER_NOISE} (relative length); store defaults M ${DEFAULTS.m}, efConstruction ${DEFAULTS.efConstruction}, ` +
    `efSearch ${DEFAULTS.efSearch}, EXACT_SEARCH_MAX_CHUNKS ${count(DEFAULTS.exactSearchMaxChunks)}, INDEX_BACKLOG_MAX_CHUNKS ${count(DEFAULTS.maxIndexBacklog)}. ` +
    'Latencies are timed query by query, every system in turn, so noise on this shared machine hits all alike: compare the ratios. ' +
    'Recall is against hnswlib BruteforceSearch, checked by the plain JS scan (its recall should read 1.000).';
  const sections = results.map((result) =>
    [`### ${result.name}`, '', table(result.main), '', `ef sweep of the store's graph (DATA_DIR reopened with each HNSW_EF_SEARCH; past ${EF_SWEEP.at(-1)}, ef doubles while recall@10 < ${TARGET_RECALL} and the graph still beats brute force):`, '', table(result.sweep)].join('\n'),
  );
  return [`Parameters: ${parameters}`, '', ...sections.flatMap((section) => [section, '']), '### Targets', '', ...results.map((result) => `- ${verdict(result)}`)].join('\n');
}

async function main(): Promise<void> {
  const HNSWLib = await loadLangChainHnswLib<LangChainConstructor>();
  const results: DataSetResult[] = [];
  for (const make of dataSets()) {
    const dataSet = make();
    progress(`${dataSet.name}: ${count(SIZE)} points generated`);
    results.push(await benchmarkDataSet(dataSet, HNSWLib));
  }
  const body = report(results);
  print(body);
  await writeResultsSection({ id: 'bench:search', title: 'Search: recall@10 and latency (bench:search)', body });
}

await main();
