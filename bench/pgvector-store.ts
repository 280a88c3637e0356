import { rm } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pg from 'pg';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { HnswStore } from '../src/store/hnsw-store.js';
import { PgvectorStore } from '../src/store/pgvector/pgvector-store.js';
import type { DocumentStore, DocumentWrite, StoreCollection } from '../src/store/store-contract.js';
import { startPgliteServer } from '../test/support/pglite-server.js';
import { databaseTarget, openTestDatabase } from '../test/support/test-database.js';
import {
  benchFlags,
  clusteredVectors,
  markdownTable,
  ms,
  print,
  progress,
  randomUnitVectors,
  ratio,
  silentLogger,
  summarize,
  temporaryDir,
  type VectorSet,
  writeResultsSection,
} from './support.js';

/**
 * The two store backends on the same clustered vectors, through the store contract the service
 * uses: ingest throughput (to acknowledgement, and for the embedded store until its HNSW graph
 * holds everything), recall@10 against exact search and search latency at the default
 * ef_search, and search latency while another ingest runs. Postgres here is PGlite: Postgres
 * compiled to single-threaded WebAssembly, one query at a time, over a local socket. It is not the
 * production engine, so its figures are given as ratios to the embedded store, not as capacity.
 * With TEST_DATABASE_URL set (a Postgres server with pgvector), the same run is made on a
 * database of its own there, dropped after, in a column beside PGlite's.
 */

const { quick } = benchFlags();
const DIMENSIONS = 256;
const SIZE = quick ? 2000 : 10_000;
const DURING = quick ? 500 : 2000;
const QUERIES = quick ? 50 : 200;
const BATCH = 100;
const HNSW = { m: 16, efConstruction: 200, efSearch: 128, exactSearchMaxChunks: 0, maxIndexBacklog: 1_000_000 };

const centres = randomUnitVectors(100, DIMENSIONS, 1);
const corpus = clusteredVectors(SIZE + DURING, { centres, noise: 0.6 }, 2);
const queries = clusteredVectors(QUERIES, { centres, noise: 0.6 }, 3);

const writesOf = (vectors: VectorSet, start: number, end: number): DocumentWrite[] =>
  Array.from({ length: end - start }, (_, offset) => {
    const index = start + offset;
    return { id: `v${index}`, text: `vector ${index}`, metadata: { n: index }, contentHash: `h${index}`, spans: [[0, 1]], vectors: [vectors.row(index)] };
  });

function exactTop10(query: number[]): string[] {
  const scored: Array<[number, number]> = [];
  for (let index = 0; index < SIZE; index++) {
    const row = corpus.data.subarray(index * DIMENSIONS, (index + 1) * DIMENSIONS);
    let dot = 0;
    for (let i = 0; i < DIMENSIONS; i++) dot += (row[i] as number) * (query[i] as number);
    scored.push([dot, index]);
  }
  return scored.sort((a, b) => b[0] - a[0]).slice(0, 10).map(([, index]) => `v${index}`);
}

interface Figures {
  ingestMs: number;
  indexedMs: number;
  recall: number;
  idle: ReturnType<typeof summarize>;
  duringIngest: ReturnType<typeof summarize>;
}

async function measure(name: string, store: DocumentStore, settle: () => Promise<void>): Promise<Figures> {
  const collection = await store.getOrCreate('bench');
  progress(`${name}: ingesting ${SIZE} vectors in batches of ${BATCH}`);
  const started = performance.now();
  for (let start = 0; start < SIZE; start += BATCH) await collection.upsert(writesOf(corpus, start, Math.min(SIZE, start + BATCH)));
  const ingestMs = performance.now() - started;
  await settle();
  const indexedMs = performance.now() - started;
  progress(`${name}: ${QUERIES} searches, recall@10 against exact`);
  const latencies: number[] = [];
  let found = 0;
  for (let index = 0; index < QUERIES; index++) {
    const query = queries.row(index);
    const began = performance.now();
    const hits = await collection.searchVector(query, 10);
    latencies.push(performance.now() - began);
    const got = new Set(hits.map((hit) => hit.document.id));
    found += exactTop10(query).filter((id) => got.has(id)).length;
  }
  progress(`${name}: searches while ${DURING} more vectors are ingested`);
  const during = await searchesDuring(collection, () => ingestMore(collection));
  return { ingestMs, indexedMs, recall: found / (QUERIES * 10), idle: summarize(latencies), duringIngest: summarize(during) };
}

async function ingestMore(collection: StoreCollection): Promise<void> {
  for (let start = SIZE; start < SIZE + DURING; start += BATCH) await collection.upsert(writesOf(corpus, start, Math.min(SIZE + DURING, start + BATCH)));
}

async function searchesDuring(collection: StoreCollection, ingest: () => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let done = false;
  const writing = ingest().finally(() => {
    done = true;
  });
  for (let index = 0; !done; index = (index + 1) % QUERIES) {
    const began = performance.now();
    await collection.searchVector(queries.row(index), 10);
    latencies.push(performance.now() - began);
    // The embedded store answers without I/O: without a turn of the event loop its ingest would never run.
    await nextTurn();
  }
  await writing;
  return latencies;
}

/** Whether Postgres answers the service's kind of search through the HNSW index, once it has table statistics. */
async function plannerUsesIndex(url: string): Promise<boolean> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query('ANALYZE rag_chunks');
    await client.query('BEGIN');
    await client.query("SELECT set_config('hnsw.ef_search', $1, true)", [String(HNSW.efSearch)]);
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      "EXPLAIN SELECT document_id FROM rag_chunks c WHERE c.collection = 'bench' ORDER BY c.embedding <=> $1::vector LIMIT 10",
      [`[${queries.row(0).join(',')}]`],
    );
    await client.query('ROLLBACK');
    return rows.some((row) => row['QUERY PLAN'].includes('rag_chunks_embedding'));
  } finally {
    await client.end();
  }
}

/** One pgvector run on a database at `url`; whether the planner walks the HNSW index is asked after. */
async function measurePgvector(name: string, url: string, settings: { embeddingModel: string; embeddingDimensions: number; logger: typeof silentLogger }) {
  const store = await PgvectorStore.open({ ...settings, url, poolSize: 4, statementTimeoutMs: 0, hnsw: HNSW });
  const figures = await measure(name, store, async () => undefined);
  await store.close();
  return { figures, indexUsed: await plannerUsesIndex(url) };
}

async function main(): Promise<void> {
  const dir = await temporaryDir('bench-pgvector-');
  const settings = { embeddingModel: 'bench-clustered', embeddingDimensions: DIMENSIONS, logger: silentLogger };
  const hnsw = new EmbeddedStore(
    await HnswStore.open({ ...settings, dataDir: dir, hnsw: HNSW, snapshotEveryChunks: 1_000_000, snapshotIntervalMs: 3_600_000 }),
  );
  const embedded = await measure('hnsw', hnsw, () => hnsw.hnsw.get('bench')?.indexed() ?? Promise.resolve());
  await hnsw.close();
  await rm(dir, { recursive: true, force: true });

  progress('starting PGlite (Postgres in WebAssembly) with pgvector');
  const server = await startPgliteServer();
  const pglite = await measurePgvector('pgvector on PGlite', server.url, settings);
  await server.stop();
  const columns = [{ title: 'pgvector on PGlite', ...pglite }];
  if (databaseTarget().kind === 'server') {
    const database = await openTestDatabase();
    progress(`TEST_DATABASE_URL: ${database.engine}, on a database of its own`);
    try {
      columns.push({ title: `pgvector on ${database.engine}`, ...(await measurePgvector('pgvector on TEST_DATABASE_URL', database.url, settings)) });
    } finally {
      await database.close();
    }
  }

  const cells = (row: (figures: Figures) => [string | number, string]) => columns.flatMap(({ figures }) => row(figures));
  const rows = [
    ['ingest to acknowledgement (vectors/s)', Math.round(SIZE / (embedded.ingestMs / 1000)), ...cells((f) => [Math.round(SIZE / (f.ingestMs / 1000)), ratio(embedded.ingestMs, f.ingestMs)])],
    ['ingest until searchable by the index (s)', (embedded.indexedMs / 1000).toFixed(1), ...cells((f) => [(f.indexedMs / 1000).toFixed(1), ratio(f.indexedMs, embedded.indexedMs)])],
    ['recall@10 vs exact', embedded.recall.toFixed(3), ...cells((f) => [f.recall.toFixed(3), '—'])],
    ['search p50 (ms)', ms(embedded.idle.p50), ...cells((f) => [ms(f.idle.p50), ratio(f.idle.p50, embedded.idle.p50)])],
    ['search p99 (ms)', ms(embedded.idle.p99), ...cells((f) => [ms(f.idle.p99), ratio(f.idle.p99, embedded.idle.p99)])],
    ['search p50 during ingest (ms)', ms(embedded.duringIngest.p50), ...cells((f) => [ms(f.duringIngest.p50), ratio(f.duringIngest.p50, embedded.duringIngest.p50)])],
    ['search p99 during ingest (ms)', ms(embedded.duringIngest.p99), ...cells((f) => [ms(f.duringIngest.p99), ratio(f.duringIngest.p99, embedded.duringIngest.p99)])],
  ];
  const table = markdownTable(['', 'hnsw (embedded)', ...columns.flatMap(({ title }) => [title, `${title.split(',')[0]} ÷ hnsw`])], rows);
  const plan = columns
    .map(({ title, indexUsed }) => `${title}: the planner ${indexUsed ? 'walks the HNSW index' : 'scans the table instead of the HNSW index'} for this search (EXPLAIN after ANALYZE).`)
    .join('\n');
  print(`${table}\n${plan}`);
  await writeResultsSection({
    id: 'bench:pgvector',
    title: 'pgvector backend beside the embedded store',
    body: [
      `${SIZE} clustered ${DIMENSIONS}-dimensional vectors, ingested ${BATCH} per write through the store contract; ${QUERIES} queries;`,
      `then ${DURING} more vectors ingested while one search after another runs. HNSW m=16, ef_construction=200, ef_search=128 on both.`,
      '',
      table,
      '',
      plan,
      '',
      'PGlite is Postgres compiled to single-threaded WebAssembly, running one query at a time behind a socket: it is not',
      'the production engine, and its figures say little about a real Postgres server. Read its ratios, not its absolutes.',
      columns.length > 1
        ? 'The last column is a real Postgres server (TEST_DATABASE_URL) on the same machine as the benchmark, sharing its cores.'
        : 'Set TEST_DATABASE_URL to a Postgres server with pgvector to add a column for a real server beside it.',
    ].join('\n'),
  });
}

await main();
