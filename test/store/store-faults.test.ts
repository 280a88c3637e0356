import assert from 'node:assert/strict';
import { appendFile, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, afterEach, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { diskFaults, type DiskOperation } from '../../src/store/durable-fs.js';
import { contentHash, type DocumentWrite, type HnswCollection } from '../../src/store/hnsw-collection.js';
import { HnswStore, type StoreOptions } from '../../src/store/hnsw-store.js';
import { decodeMutations, encodeMutations } from '../../src/store/mutation-codec.js';
import { InvalidVectorError } from '../../src/store/semantics/store-errors.js';
import { temporaryDir } from '../support/test-app.js';
import { testStoreOptions } from '../support/test-store.js';

const embedder = new LexicalEmbeddings(128);
const dirs: string[] = [];
const noFaults = diskFaults.check;

async function openStore(dataDir?: string, overrides: Partial<StoreOptions> = {}): Promise<HnswStore> {
  const dir = dataDir ?? (await temporaryDir('store-faults-'));
  if (!dataDir) dirs.push(dir);
  return HnswStore.open(testStoreOptions(dir, 10_000, overrides));
}

const dataDirOf = (store: HnswStore) => (store as unknown as { options: StoreOptions }).options.dataDir;
const walOf = (store: HnswStore) => join(dataDirOf(store), 'collections', 'default', 'wal-00000001.log');

function write(id: string, text: string, vector: number[] = embedder.embed(text)): DocumentWrite {
  return { id, text, metadata: {}, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]], vectors: [vector] };
}

const storedIds = (collection: HnswCollection | undefined) => (collection?.listDocuments(100).documents ?? []).map((document) => document.id);

/** Makes the next matching disk operations fail as the OS would, `times` times. */
function failDisk(operation: DiskOperation, code: string, times = Infinity): void {
  let left = times;
  diskFaults.check = (op) => {
    if (op !== operation || left <= 0) return;
    left -= 1;
    throw Object.assign(new Error(`${code}: injected ${op} failure`), { code, syscall: op });
  };
}

/** A frame holding `json` (and no vectors), with a right checksum, as a hand-made log record. */
function frameOf(json: string): Buffer {
  const jsonBytes = Buffer.from(json, 'utf8');
  const payload = Buffer.alloc(4 + jsonBytes.length);
  payload.writeUInt32LE(jsonBytes.length, 0);
  jsonBytes.copy(payload, 4);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

const putRecord = (id: string, label: number, vector: Float32Array) =>
  encodeMutations([
    {
      op: 'put',
      document: { id, text: id, metadata: {}, contentHash: id, spans: [[0, id.length]], createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' },
      labels: [label],
      vectors: vector,
    },
  ]);

describe('store faults', () => {
  let store: HnswStore | undefined;
  afterEach(async () => {
    diskFaults.check = noFaults;
    await store?.close();
    store = undefined;
  });
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a request with a bad vector before the log, whole, and lets no bad vector fix a fresh store\'s dimensions', async () => {
    store = await openStore(undefined, { embeddingDimensions: undefined });
    const collection = await store.getOrCreate('default');
    const good = embedder.embed('good');
    const refusals: Array<[string, number[]]> = [
      ['a shorter vector', good.slice(0, 64)],
      ['an empty vector', []],
      ['NaN', [Number.NaN, ...good.slice(1)]],
      ['Infinity', [Number.POSITIVE_INFINITY, ...good.slice(1)]],
      ['a number float32 cannot hold', [1e39, ...good.slice(1)]],
      ['a zero vector', good.map(() => 0)],
    ];
    for (const [what, vector] of refusals) {
      await assert.rejects(collection.upsert([write('a', 'alpha'), write('b', 'beta', vector)]), InvalidVectorError, what);
      assert.equal((await stat(walOf(store))).size, 0, `${what}: nothing logged`);
      assert.equal(store.dimensions, undefined, `${what}: the manifest is not fixed`);
      assert.deepEqual(storedIds(collection), [], `${what}: nothing stored`);
    }
    const first = await collection.upsert([write('b', 'beta', good.slice(0, 64).map((value) => value || 0.1))]);
    assert.equal(first.applied, true, 'a consistent first request fixes the dimensions');
    assert.equal(store.dimensions, 64);
  });

  it('logs a request as one record: a torn record loses the whole request, never part of it', async () => {
    store = await openStore();
    const collection = await store.getOrCreate('default');
    await collection.upsert([write('a', 'alpha apples')]);
    await collection.upsert([write('b', 'beta bananas'), write('c', 'gamma grapes')]);
    const wal = walOf(store);
    const records = decodeMutations(await readFile(wal)).records;
    assert.deepEqual(
      records.map((record) => record.map((mutation) => (mutation.op === 'put' ? mutation.document.id : mutation.op))),
      [['a'], ['b', 'c']],
    );
    const dataDir = dataDirOf(store);
    store = undefined;
    await truncate(wal, (await stat(wal)).size - 3);
    store = await openStore(dataDir);
    assert.deepEqual(storedIds(store.get('default')), ['a']);
  });

  it('opens a log with unappliable records, skipping and counting each, keeping everything else', async () => {
    store = await openStore();
    await (await store.getOrCreate('default')).upsert([write('a', 'alpha apples')]);
    const dataDir = dataDirOf(store);
    const wal = walOf(store);
    store = undefined;
    const good = Float32Array.from(embedder.embed('zeta'));
    const nan = Float32Array.from(good);
    nan[3] = Number.NaN;
    await appendFile(wal, putRecord('short', 10, good.subarray(0, 64)));
    await appendFile(wal, putRecord('nan', 11, nan));
    await appendFile(wal, frameOf('{"op":"put","document":'));
    await appendFile(wal, putRecord('zeta', 12, good));
    store = await openStore(dataDir);
    const collection = store.get('default');
    assert.deepEqual(storedIds(collection), ['a', 'zeta']);
    assert.equal(collection?.skippedAtOpen, 3);
    assert.equal(collection?.searchVector([...good], 1)[0]?.document.id, 'zeta');
  });

  for (const [operation, code] of [
    ['write', 'ENOSPC'],
    ['write', 'EIO'],
    ['sync', 'EIO'],
  ] as const) {
    it(`refuses a write whose ${operation} fails with ${code}, stays consistent, and takes writes again once the fault is gone, across a restart`, async () => {
      store = await openStore();
      const collection = await store.getOrCreate('default');
      await collection.upsert([write('a', 'alpha apples')]);
      const wal = walOf(store);
      const before = (await stat(wal)).size;
      failDisk(operation, code);
      await assert.rejects(collection.upsert([write('b', 'beta bananas'), write('c', 'gamma grapes')]), { code });
      assert.equal((await stat(wal)).size, before, 'what was written is cut off again');
      assert.deepEqual(storedIds(collection), ['a']);
      diskFaults.check = noFaults;
      await collection.upsert([write('d', 'delta dates')]);
      const dataDir = dataDirOf(store);
      store = undefined;
      store = await openStore(dataDir);
      assert.deepEqual(storedIds(store.get('default')), ['a', 'd']);
      assert.equal(store.get('default')?.skippedAtOpen, 0);
    });
  }

  it('when even the cut-back fails, refuses writes until it succeeds, and a refused write never reappears', async () => {
    store = await openStore();
    const collection = await store.getOrCreate('default');
    let failing = true;
    diskFaults.check = (operation) => {
      if (failing && (operation === 'sync' || operation === 'truncate')) throw Object.assign(new Error('EIO'), { code: 'EIO' });
    };
    await assert.rejects(collection.upsert([write('b', 'beta bananas')]), { code: 'EIO' });
    await assert.rejects(collection.upsert([write('c', 'gamma grapes')]), { code: 'EIO' });
    failing = false;
    await collection.upsert([write('d', 'delta dates')]);
    const dataDir = dataDirOf(store);
    store = undefined;
    store = await openStore(dataDir);
    assert.deepEqual(storedIds(store.get('default')), ['d']);
  });
});
