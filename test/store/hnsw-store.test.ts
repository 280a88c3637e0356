import assert from 'node:assert/strict';
import { appendFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { contentHash, type DocumentWrite, type HnswCollection } from '../../src/store/hnsw-collection.js';
import { HnswStore, type StoreOptions } from '../../src/store/hnsw-store.js';
import { compileFilter } from '../../src/store/metadata-filter.js';
import { capturingLogger, temporaryDir } from '../support/test-app.js';
import { testStoreOptions } from '../support/test-store.js';

const embedder = new LexicalEmbeddings(128);
const dirs: string[] = [];

async function openStore(overrides: Partial<StoreOptions> = {}, dataDir?: string): Promise<HnswStore> {
  const dir = dataDir ?? (await temporaryDir('store-test-'));
  if (!dataDir) dirs.push(dir);
  return HnswStore.open(testStoreOptions(dir, 0, overrides));
}

function write(id: string, text: string, metadata: Record<string, unknown> = {}): DocumentWrite {
  return { id, text, metadata, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]], vectors: [embedder.embed(text)] };
}

const ids = (collection: HnswCollection | undefined, query: string, k = 3, filter?: unknown) =>
  (collection?.searchVector(embedder.embed(query), k, { filter: filter ? compileFilter(filter) : undefined }) ?? []).map((hit) => hit.document.id);

const dirOf = (store: HnswStore) => (store as unknown as { options: StoreOptions }).options.dataDir;

/** Opens DATA_DIR again as a restarted process would after a crash: the old instance is abandoned, never closed. */
const reopenAfterCrash = (dataDir: string, overrides: Partial<StoreOptions> = {}) => openStore(overrides, dataDir);

after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('HNSW store', () => {
  let store: HnswStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('loads a snapshot and replays only the log written after it', async () => {
    store = await openStore();
    const dataDir = dirOf(store);
    const collection = await store.getOrCreate('notes');
    await collection.upsert([write('a', 'alpha apples')]);
    await collection.snapshot();
    await collection.upsert([write('b', 'bravo bananas')]);
    const files = await readdir(join(dataDir, 'collections', 'notes'));
    assert.deepEqual(files.sort(), ['snapshot-00000001', 'wal-00000002.log']);
    const { logger, lines } = capturingLogger();
    store = await reopenAfterCrash(dataDir, { logger });
    const opened = lines.find((line) => line.msg === 'collection opened');
    assert.equal(opened?.snapshot, 1);
    assert.equal(opened?.replayedMutations, 1);
    assert.deepEqual(ids(store.get('notes'), 'bananas', 1), ['b']);
  });

  it('drops a torn write at the end of the log and keeps everything before it', async () => {
    store = await openStore();
    const dataDir = dirOf(store);
    const collection = await store.getOrCreate('default');
    await collection.upsert([write('a', 'alpha apples')]);
    await appendFile(join(dataDir, 'collections', 'default', 'wal-00000001.log'), Buffer.from([200, 1, 0, 0, 9, 9, 9]));
    const { logger, lines } = capturingLogger();
    const reopened = await reopenAfterCrash(dataDir, { logger });
    assert.equal(reopened.get('default')?.documentCount, 1);
    assert.equal(lines.find((line) => line.msg.includes('torn'))?.droppedBytes, 7);
    await reopened.get('default')?.upsert([write('b', 'bravo bananas')]);
    store = await reopenAfterCrash(dataDir);
    assert.equal(store.get('default')?.documentCount, 2, 'appends after the cut are readable');
  });

  it('opens a log corrupted before its last segment, keeping what precedes the damage and counting what it skipped', async () => {
    store = await openStore();
    const dataDir = dirOf(store);
    const collection = await store.getOrCreate('default');
    await collection.upsert([write('a', 'alpha apples')]);
    const log = join(dataDir, 'collections', 'default');
    await appendFile(join(log, 'wal-00000001.log'), Buffer.from([200, 1, 0, 0, 9]));
    await writeFile(join(log, 'wal-00000002.log'), '');
    store = await reopenAfterCrash(dataDir);
    assert.deepEqual(ids(store.get('default'), 'alpha apples'), ['a']);
    assert.equal(store.get('default')?.skippedAtOpen, 1);
  });

  it('hides a document from every mode while its vectors are still being added, then shows all its chunks at once', async () => {
    store = await openStore();
    const collection = await store.getOrCreate('default');
    const size = 6_000;
    const pieces = Array.from({ length: size }, (_, n) => `quartz sample ${n}`);
    const text = pieces.join(' ');
    const spans = pieces.map((piece, n): [number, number] => {
      const start = pieces.slice(0, n).reduce((sum, earlier) => sum + earlier.length + 1, 0);
      return [start, start + piece.length];
    });
    const document: DocumentWrite = { id: 'q', text, metadata: {}, contentHash: contentHash(text, 'whole'), spans, vectors: pieces.map((piece) => embedder.embed(piece)) };
    const seen: Array<{ added: number; vector: number; keyword: number }> = [];
    let done = false;
    const applied = collection.upsert([document]).finally(() => {
      done = true;
    });
    const look = () => {
      if (done) return;
      const { exact, graph } = collection.vectorCounts();
      seen.push({
        added: exact + graph,
        vector: collection.searchVector(embedder.embed('quartz sample'), 10).length,
        keyword: collection.searchKeyword('quartz', 10).length,
      });
      setImmediate(look);
    };
    look();
    await applied;
    assert.ok(seen.some(({ added }) => added > 0 && added < size), `no search ran while the vectors were being added (${seen.length} searches)`);
    assert.deepEqual(seen.filter(({ vector, keyword }) => vector > 0 || keyword > 0), [], 'no search saw part of the document');
    assert.equal(collection.searchKeyword('quartz', size).length, size);
    assert.equal(collection.searchVector(embedder.embed('quartz sample'), 10).length, 10);
  });
});

describe('exact tier and HNSW graph', () => {
  let store: HnswStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  // The service's default size: at 128 dimensions hashing collisions alone can outrank a word's own document.
  const wide = new LexicalEmbeddings(1024);
  const open = (hnsw: StoreOptions['hnsw'], dataDir?: string) => openStore({ hnsw, embeddingDimensions: 1024 }, dataDir);
  const put = (id: string, text: string): DocumentWrite => ({ ...write(id, text), vectors: [wide.embed(text)] });
  const best = (collection: HnswCollection, query: string, k = 1) => collection.searchVector(wide.embed(query), k).map((hit) => hit.document.id);

  /** Documents alike but for one made-up word each, as in the crash test: the hard case for a graph over lexical vectors. */
  const needles = (count: number) => {
    let seed = 42;
    const letter = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return String.fromCharCode(97 + (seed % 26));
    };
    return Array.from({ length: count }, (_, n) => {
      const token = Array.from({ length: 10 }, letter).join('');
      return { id: `doc-${n}`, token, text: `Paragraph ${n % 4} of document ${n}: ${token}.` };
    });
  };

  it('finds every chunk of a small collection by its own word, where a graph walk misses some', async () => {
    const parameters = { m: 16, efConstruction: 200, efSearch: 128, maxIndexBacklog: 1_000_000 };
    const docs = needles(1200);
    const missesWith = async (exactSearchMaxChunks: number) => {
      const opened = await open({ ...parameters, exactSearchMaxChunks });
      const collection = await opened.getOrCreate('default');
      await collection.upsert(docs.map((doc) => put(doc.id, doc.text)));
      await collection.indexed();
      const misses = docs.filter((doc) => best(collection, doc.token)[0] !== doc.id).length;
      const counts = collection.vectorCounts();
      await opened.close();
      return { misses, counts };
    };
    const exact = await missesWith(10_000);
    assert.deepEqual(exact, { misses: 0, counts: { exact: 1200, graph: 0 } });
    const graph = await missesWith(0);
    assert.equal(graph.counts.graph, 1200);
    assert.ok(graph.misses > 0, 'lexical vectors defeat the graph walk for some chunks (why small collections stay exact)');
  });

  it('answers from both tiers while the graph catches up, and keeps both across a snapshot and a crash', async () => {
    // Dense random vectors, like a neural model's: the graph finds each of them (lexical needles it may not).
    let seed = 11;
    const gaussian = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const u = (seed + 1) / 2 ** 31;
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * seed) / 2 ** 31);
    };
    const vectors = Array.from({ length: 600 }, () => Array.from({ length: 1024 }, gaussian));
    const putVector = (n: number): DocumentWrite => ({ ...write(`v${n}`, `vector ${n}`), vectors: [vectors[n]] });
    const nearest = (collection: HnswCollection, n: number, k = 1) => collection.searchVector(vectors[n] as number[], k).map((hit) => hit.document.id);
    const parameters = { m: 16, efConstruction: 100, efSearch: 64, exactSearchMaxChunks: 100, maxIndexBacklog: 1_000_000 };
    store = await open(parameters);
    const dataDir = dirOf(store);
    const collection = await store.getOrCreate('default');
    await collection.upsert(vectors.slice(0, 500).map((_, n) => putVector(n)));
    const early = collection.vectorCounts();
    assert.equal(early.exact + early.graph, 500);
    assert.ok(early.exact > 0, 'the write returned before the graph held everything');
    assert.deepEqual([0, 250, 499].map((n) => nearest(collection, n)[0]), ['v0', 'v250', 'v499']);
    await collection.indexed();
    assert.deepEqual(collection.vectorCounts(), { exact: 0, graph: 500 });
    await collection.snapshot();
    await collection.upsert(vectors.slice(500).map((_, n) => putVector(500 + n)));
    await collection.deleteDocuments(['v1', 'v550']);
    store = await open(parameters, dataDir);
    const reopened = store.get('default') as HnswCollection;
    assert.equal(reopened.chunkCount, 598);
    await reopened.indexed();
    assert.deepEqual(reopened.vectorCounts(), { exact: 0, graph: 598 });
    const lost = vectors.map((_, n) => n).filter((n) => n !== 1 && n !== 550 && nearest(reopened, n)[0] !== `v${n}`);
    assert.deepEqual(lost, [], 'every live vector is found, whichever tier held it at the crash');
    assert.ok(!nearest(reopened, 1, 5).includes('v1'), 'a chunk deleted from the graph never comes back');
    assert.ok(!nearest(reopened, 550, 5).includes('v550'), 'a chunk deleted from the exact tier never comes back');
  });

  it('holds a writer back while more chunks wait for the graph than the backlog allows', async () => {
    store = await open({ m: 16, efConstruction: 100, efSearch: 64, exactSearchMaxChunks: 50, maxIndexBacklog: 100 });
    const collection = await store.getOrCreate('default');
    await collection.upsert(needles(400).map((doc) => put(doc.id, doc.text)));
    assert.ok(collection.vectorCounts().exact <= 100, `${collection.vectorCounts().exact} chunks still wait for the graph`);
    assert.equal(collection.chunkCount, 400);
  });
});
