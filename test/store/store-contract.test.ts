import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { contentHash } from '../../src/store/content-hash.js';
import { compileFilter, type Metadata, type MetadataFilter } from '../../src/store/metadata-filter.js';
import { CollectionDroppedError, EmbeddingSpaceMismatchError, InvalidVectorError } from '../../src/store/semantics/store-errors.js';
import {
  type DocumentStore,
  type DocumentWrite,
  type StoreCollection,
  type StoreFilter,
} from '../../src/store/store-contract.js';
import { hnswBackend, pgvectorBackend, type StoreBackend } from '../support/store-backends.js';

/**
 * The store contract's behaviour, one suite for both backends so they cannot drift: the embedded
 * HNSW store and Postgres with pgvector (PGlite over the wire protocol, or a database of its own on TEST_DATABASE_URL's server).
 */

const embedder = new LexicalEmbeddings(128);

function write(id: string, text: string, metadata: Metadata = {}): DocumentWrite {
  return { id, text, metadata, contentHash: contentHash(text, 'whole'), spans: [[0, text.length]], vectors: [embedder.embed(text)] };
}

const storeFilter = (filter: MetadataFilter): StoreFilter => ({ filter, matches: compileFilter(filter) });

async function ids(collection: StoreCollection | undefined, query: string, k = 3, filter?: MetadataFilter): Promise<string[]> {
  const hits = (await collection?.searchVector(embedder.embed(query), k, { filter: filter && storeFilter(filter) })) ?? [];
  return hits.map((hit) => hit.document.id);
}

/** Seeded, so failures reproduce. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

for (const backend of [hnswBackend(), pgvectorBackend()] as StoreBackend[]) {
  describe(`store contract: ${backend.name}`, () => {
    let store: DocumentStore | undefined;
    const opened: DocumentStore[] = [];
    const open = async (settings?: Parameters<StoreBackend['open']>[0]) => {
      const made = await backend.open(settings);
      opened.push(made);
      return made;
    };

    before(() => backend.setUp());
    after(() => backend.tearDown());
    beforeEach(() => backend.reset());
    afterEach(async () => {
      for (const made of opened.splice(0).reverse()) await made.close().catch(() => undefined);
      store = undefined;
    });

    it('refuses a store built with another embedding model or size', async () => {
      store = await open();
      await (await store.getOrCreate('default')).upsert([write('a', 'alpha apples')]);
      await store.close();
      await assert.rejects(open({ embeddingModel: 'nvidia/nv-embedqa-e5-v5' }), (error: unknown) => {
        assert.ok(error instanceof EmbeddingSpaceMismatchError);
        assert.match(error.message, /holds vectors from embedding model "local-lexical-v1" \(128 dimensions\).*"nvidia\/nv-embedqa-e5-v5"/);
        return true;
      });
      await assert.rejects(open({ embeddingDimensions: 256 }), /holds 128-dimensional vectors/);
    });

    it('fixes its dimensions from the first vector when none are configured, and refuses another size after', async () => {
      store = await open({ embeddingDimensions: undefined });
      assert.equal(store.dimensions, undefined);
      const collection = await store.getOrCreate('default');
      await collection.upsert([write('a', 'alpha apples')]);
      assert.equal(store.dimensions, 128);
      await assert.rejects(collection.upsert([{ ...write('b', 'bravo'), vectors: [[1, 0, 0]] }]), /dimensions/);
      assert.equal(await collection.getDocument('b'), undefined, 'nothing of the refused write is stored');
    });

    it('refuses a bad vector whole, before anything is written, and lets none fix a fresh store\'s dimensions', async () => {
      store = await open({ embeddingDimensions: undefined });
      const collection = await store.getOrCreate('default');
      const good = embedder.embed('good');
      const refusals: Array<[string, number[], RegExp]> = [
        ['a shorter vector than the first of the write', good.slice(0, 64), /document "b" chunk 0: vector has 64 dimensions, the store holds 128-dimensional vectors/],
        ['an empty vector', [], /document "b" chunk 0: vector has 0 dimensions/],
        ['NaN', [Number.NaN, ...good.slice(1)], /document "b": chunk 0 has NaN at position 0/],
        ['Infinity', [...good.slice(1), Number.POSITIVE_INFINITY], /document "b": chunk 0 has Infinity at position 127/],
        ['a number float32 cannot hold', [1e39, ...good.slice(1)], /document "b": chunk 0 has Infinity at position 0/],
        ['a zero vector', good.map(() => 0), /document "b": chunk 0 has no direction/],
      ];
      for (const [what, vector, message] of refusals) {
        await assert.rejects(collection.upsert([write('a', 'alpha'), { ...write('b', 'beta'), vectors: [vector] }]), (error: unknown) => {
          assert.ok(error instanceof InvalidVectorError, `${what}: ${String(error)}`);
          assert.match(error.message, message, what);
          return true;
        });
        assert.equal(await collection.getDocument('a'), undefined, `${what}: nothing of the write is stored`);
        assert.equal(store.dimensions, undefined, `${what}: the dimensions are not fixed`);
      }
      await collection.upsert([write('a', 'alpha')]);
      await assert.rejects(collection.upsert([{ ...write('c', 'gamma'), vectors: [good.slice(0, 64)] }]), (error: unknown) => {
        assert.ok(error instanceof InvalidVectorError);
        assert.match(error.message, /document "c" chunk 0: vector has 64 dimensions, the store holds 128-dimensional vectors/);
        return true;
      });
    });

    it('refuses a write into a collection dropped after it was opened, and does not bring the collection back', async () => {
      store = await open();
      const collection = await store.getOrCreate('doomed');
      await collection.upsert([write('a', 'alpha apples')]);
      assert.equal(await store.drop('doomed'), true);
      await assert.rejects(collection.upsert([write('b', 'bravo bananas')]), CollectionDroppedError);
      await assert.rejects(collection.deleteDocuments(['a']), CollectionDroppedError);
      await assert.rejects(collection.deleteWhere(storeFilter({})), CollectionDroppedError);
      assert.deepEqual(await store.list(), [], 'the dropped collection stays dropped');
      assert.equal(await store.collection('doomed'), undefined);
      const again = await store.getOrCreate('doomed');
      assert.equal(await again.getDocument('a'), undefined, 'a collection of the same name starts empty');
      await assert.rejects(collection.upsert([write('c', 'charlie cherries')]), CollectionDroppedError, 'the old handle does not write into the new collection');
      await again.upsert([write('d', 'delta dates')]);
      assert.deepEqual((await store.list()).map(({ name, documents }) => ({ name, documents })), [{ name: 'doomed', documents: 1 }]);
    });

    it('clamps scores to [-1, 1], best first, keeps only hits at or above min_score, and answers k = 0 with nothing', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      const along = embedder.embed('alpha apples');
      const against = along.map((value) => -value);
      await collection.upsert([
        { ...write('same', 'alpha apples'), vectors: [along] },
        { ...write('opposite', 'opposite'), vectors: [against] },
        write('other', 'zulu zebras'),
      ]);
      const hits = await collection.searchVector(along, 3);
      assert.deepEqual(hits.map((hit) => hit.document.id), ['same', 'other', 'opposite']);
      assert.ok(hits.every((hit) => hit.score >= -1 && hit.score <= 1), JSON.stringify(hits.map((hit) => hit.score)));
      assert.ok(Math.abs((hits[0]?.score ?? 0) - 1) < 1e-5 && Math.abs((hits[2]?.score ?? 0) + 1) < 1e-5);
      assert.deepEqual((await collection.searchVector(along, 3, { minScore: 0.5 })).map((hit) => hit.document.id), ['same']);
      assert.deepEqual(await collection.searchVector(along, 3, { minScore: 1.5 }), []);
      assert.equal((await collection.searchVector(along, 3, { minScore: -1 })).length, 3, 'min_score -1 keeps the opposite vector');
      assert.deepEqual(await collection.searchVector(along, 0), []);
    });

    it('refuses a query vector it cannot search with, the same way as a bad vector to store', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      await collection.upsert([write('a', 'alpha apples')]);
      const good = embedder.embed('alpha');
      const refusals: Array<[number[], RegExp]> = [
        [good.slice(0, 64), /^the query vector has 64 dimensions, the store holds 128-dimensional vectors$/],
        [[], /^the query vector is empty$/],
        [[Number.NaN, ...good.slice(1)], /^the query vector has NaN at position 0$/],
        [[1e39, ...good.slice(1)], /^the query vector has Infinity at position 0$/],
        [good.map(() => 0), /^the query vector has no direction/],
      ];
      for (const [vector, message] of refusals) {
        await assert.rejects(collection.searchVector(vector, 3), (error: unknown) => {
          assert.ok(error instanceof InvalidVectorError, String(error));
          assert.match(error.message, message);
          return true;
        });
      }
    });

    it('replaces a document on upsert, updates metadata without new vectors, and skips identical content', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      const first = await collection.upsert([write('a', 'alpha apples', { v: 1, tags: ['x', 'y'] })]);
      assert.deepEqual(first.applied && first.outcomes, [{ id: 'a', status: 'created', chunks: 1 }]);
      const same = await collection.upsert([write('a', 'alpha apples', { tags: ['x', 'y'], v: 1 })]);
      assert.deepEqual(same.applied && same.outcomes, [{ id: 'a', status: 'unchanged', chunks: 1 }], 'key order does not make metadata differ');
      const metadataOnly = await collection.upsert([{ ...write('a', 'alpha apples', { v: 2 }), vectors: [undefined] }]);
      assert.deepEqual(metadataOnly.applied && metadataOnly.outcomes, [{ id: 'a', status: 'updated', chunks: 1 }]);
      assert.deepEqual((await collection.getDocument('a'))?.metadata, { v: 2 });
      assert.deepEqual(await ids(collection, 'apples', 1, { v: 2 }), ['a'], 'searches filter on the new metadata');
      await collection.upsert([write('a', 'zulu zebras', { v: 3 })]);
      assert.deepEqual(await ids(collection, 'zebras', 1), ['a']);
      const hits = await collection.searchVector(embedder.embed('apples'), 5);
      assert.equal(hits.filter((hit) => hit.text.includes('apples')).length, 0, 'no stray chunk of the old version');
      assert.deepEqual((await store.list()).map(({ documents, chunks }) => ({ documents, chunks })), [{ documents: 1, chunks: 1 }]);
    });

    it('stores a multi-document write whole, with timestamps and spans as written', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      const text = 'first part. second part.';
      await collection.upsert([
        { ...write('multi', text), spans: [[0, 11], [12, text.length]], vectors: [embedder.embed('first part.'), embedder.embed('second part.')] },
        write('single', 'one chunk'),
      ]);
      const stored = await collection.getDocument('multi');
      assert.deepEqual(stored?.spans, [[0, 11], [12, text.length]]);
      assert.equal(stored?.text, text);
      assert.match(stored?.createdAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const hits = await collection.searchVector(embedder.embed('second part'), 1);
      assert.deepEqual(hits.map((hit) => [hit.document.id, hit.chunk, hit.text]), [['multi', 1, 'second part.']]);
      assert.ok(Math.abs((hits[0]?.score ?? 0) - 1) < 1e-5, `cosine similarity of a vector with itself is 1, got ${hits[0]?.score}`);
    });

    it('asks for vectors it cannot reuse instead of writing a document half-embedded, and reuses equal text', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      const result = await collection.upsert([{ ...write('a', 'new text'), vectors: [undefined] }]);
      assert.deepEqual(result, { applied: false, missing: [{ write: 0, chunk: 0 }] });
      assert.equal(await collection.getDocument('a'), undefined);
      await collection.upsert([write('a', 'new text')]);
      const reuse = await collection.upsert([{ ...write('b', 'new text'), vectors: [undefined] }]);
      assert.equal(reuse.applied, true, 'an identical chunk text elsewhere lends its vector');
      const lent = await collection.reusableVectors(['new text', 'other text']);
      assert.deepEqual([...lent.keys()], ['new text']);
      const expected = embedder.embed('new text');
      assert.ok((lent.get('new text') as number[]).every((value, index) => Math.abs(value - (expected[index] as number)) < 1e-6));
      assert.deepEqual(await collection.contentHashes(['a', 'missing']), new Map([['a', contentHash('new text', 'whole')]]));
    });

    it('deletes by id and by filter, and deleted documents never come back in results', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      await collection.upsert([
        write('en1', 'apples and pears', { lang: 'en' }),
        write('zh1', 'apples in Chinese', { lang: 'zh' }),
        write('fr1', 'apples in French', { lang: 'fr' }),
      ]);
      assert.deepEqual(await collection.deleteWhere(storeFilter({ lang: 'zh' })), ['zh1']);
      assert.deepEqual(await collection.deleteDocuments(['fr1', 'nope']), ['fr1']);
      assert.deepEqual(await ids(collection, 'apples', 5), ['en1']);
      assert.equal(await collection.getDocument('zh1'), undefined);
      assert.deepEqual(await collection.deleteDocuments(['fr1']), []);
    });

    it('returns k filtered hits whenever k matching chunks exist, however rare the match', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      const writes = Array.from({ length: 1500 }, (_, index) =>
        write(`d${index}`, `common words document ${index} ${index % 50 === 0 ? 'rare' : 'usual'}`, { rare: index % 50 === 0, n: index }),
      );
      for (let start = 0; start < writes.length; start += 500) await collection.upsert(writes.slice(start, start + 500));
      await backend.settle(store, 'default');
      const hits = await collection.searchVector(embedder.embed('common words document'), 10, { filter: storeFilter({ rare: true }) });
      assert.equal(hits.length, 10);
      assert.ok(hits.every((hit) => hit.document.metadata.rare === true));
      const scores = hits.map((hit) => hit.score);
      assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
      const floor = (scores[4] as number) - 1e-9;
      const above = await collection.searchVector(embedder.embed('common words document'), 10, { filter: storeFilter({ rare: true }), minScore: floor });
      assert.ok(above.length >= 5 && above.every((hit) => hit.score >= floor), 'min_score leaves out the lower hits');
    });

    it('means the same by every filter operator as the in-memory predicate', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      const metadata: Metadata[] = [
        { lang: 'en', year: 2030, tags: ['a', 'b'], author: { name: 'Ann', n: 1 } },
        { lang: 'zh', year: 2031, tags: ['b'], author: { name: 'Bo' } },
        { lang: 'en', year: '2032', tags: [], draft: null },
        { lang: 'fr', year: 2029.5, tags: 'a', author: 'nobody' },
        { year: 2030, nested: [{ x: 1 }], flag: true },
        {},
      ];
      await collection.upsert(metadata.map((item, index) => write(`m${index}`, `shared text ${index}`, item)));
      const filters: MetadataFilter[] = [
        { lang: 'en' },
        { lang: { $ne: 'en' } },
        { tags: 'a' },
        { tags: { $in: ['a', 'z'] } },
        { tags: { $nin: ['b'] } },
        { year: { $gte: 2030 } },
        { year: { $gt: 2029, $lt: 2031 } },
        { year: { $lte: '2032' } },
        { year: 2030.0 },
        { 'author.name': 'Ann' },
        { 'author.name': { $ne: 'Ann' } },
        { 'author.n': { $gt: 0 } },
        { 'nested.x': 1 },
        { draft: null },
        { draft: { $eq: null } },
        { flag: true },
        { flag: { $ne: false } },
        { $or: [{ lang: 'zh' }, { year: { $lt: 2030 } }] },
        { $and: [{ lang: 'en' }, { tags: 'b' }], year: 2030 },
        { lang: { $in: ['en', 'fr'] }, 'author.name': { $nin: ['Bo'] } },
        {},
      ];
      for (const filter of filters) {
        const predicate = compileFilter(filter);
        const expected = metadata.flatMap((item, index) => (predicate(item) ? [`m${index}`] : [])).sort();
        const hits = await collection.searchVector(embedder.embed('shared text'), 10, { filter: storeFilter(filter) });
        assert.deepEqual(hits.map((hit) => hit.document.id).sort(), expected, JSON.stringify(filter));
      }
    });

    it('lists documents in id order, a page at a time', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      await collection.upsert(['c', 'a', 'e', 'B', 'b', 'd'].map((id) => write(id, `text ${id}`)));
      const first = await collection.listDocuments(2);
      assert.deepEqual(first.documents.map((document) => document.id), ['B', 'a']);
      const second = await collection.listDocuments(2, first.next);
      assert.deepEqual(second.documents.map((document) => document.id), ['b', 'c']);
      const last = await collection.listDocuments(2, second.next);
      assert.deepEqual(last.documents.map((document) => document.id), ['d', 'e']);
      assert.equal(last.next, undefined);
    });

    it('keeps collections apart, lists them, and drops one for good', async () => {
      store = await open();
      await (await store.getOrCreate('one')).upsert([write('x', 'shared words')]);
      await (await store.getOrCreate('two')).upsert([write('y', 'shared words')]);
      assert.deepEqual(await ids(await store.collection('one'), 'shared', 5), ['x']);
      assert.deepEqual((await store.list()).map((summary) => summary.name), ['one', 'two']);
      assert.equal(await (await store.collection('one'))?.hasChunks(), true);
      assert.equal(await store.collection('three'), undefined);
      assert.equal(await store.drop('one'), true);
      assert.equal(await store.drop('one'), false);
      store = await open();
      assert.deepEqual((await store.list()).map((summary) => summary.name), ['two']);
      assert.deepEqual(await ids(await store.collection('two'), 'shared', 5), ['y']);
    });

    it('keeps acknowledged writes for the next process without a clean shutdown', async () => {
      store = await open();
      const collection = await store.getOrCreate('default');
      await collection.upsert([write('a', 'alpha apples'), write('b', 'bravo bananas'), write('c', 'charlie cherries')]);
      await collection.deleteDocuments(['b']);
      const reopened = await open();
      const again = await reopened.collection('default');
      assert.deepEqual(await ids(again, 'apples', 1), ['a']);
      assert.deepEqual((await reopened.list())[0]?.documents, 2);
      assert.ok(!(await ids(again, 'bananas', 3)).includes('b'));
    });

    it('reaches recall@10 of at least 0.98 against exact search on clustered vectors', async () => {
      const dimensions = 64;
      store = await open({ embeddingModel: 'clustered', embeddingDimensions: dimensions, hnsw: { m: 16, efConstruction: 100, efSearch: 128, exactSearchMaxChunks: 0, maxIndexBacklog: 1_000_000 } });
      const collection = await store.getOrCreate('default');
      const random = seededRandom(7);
      const unit = (vector: number[]) => {
        const norm = Math.hypot(...vector);
        return vector.map((value) => value / norm);
      };
      const centres = Array.from({ length: 20 }, () => Array.from({ length: dimensions }, () => random() - 0.5));
      const near = () => unit((centres[Math.floor(random() * centres.length)] as number[]).map((value) => value + (random() - 0.5) * 0.6));
      const vectors = Array.from({ length: 2000 }, near);
      const writes = vectors.map((vector, index): DocumentWrite => ({ id: `v${index}`, text: `v${index}`, metadata: {}, contentHash: `h${index}`, spans: [[0, 1]], vectors: [vector] }));
      for (let start = 0; start < writes.length; start += 500) await collection.upsert(writes.slice(start, start + 500));
      await backend.settle(store, 'default');
      let found = 0;
      const queries = Array.from({ length: 40 }, near);
      for (const query of queries) {
        const exact = vectors
          .map((vector, index) => ({ index, score: vector.reduce((sum, value, i) => sum + value * (query[i] as number), 0) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, 10)
          .map((entry) => `v${entry.index}`);
        const approximate = new Set((await collection.searchVector(query, 10)).map((hit) => hit.document.id));
        found += exact.filter((id) => approximate.has(id)).length;
      }
      assert.ok(found / (queries.length * 10) >= 0.98, `recall@10 ${found / (queries.length * 10)}`);
    });
  });
}
