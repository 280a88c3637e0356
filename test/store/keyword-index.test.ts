import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { contentHash } from '../../src/store/content-hash.js';
import { KeywordIndex } from '../../src/store/keyword/keyword-index.js';
import { idf, roundScore, termScore } from '../../src/store/keyword/bm25.js';
import { keywordTerms, queryTerms, termFrequencies, wordSegments } from '../../src/store/keyword/tokenizer.js';
import { compileFilter, type Metadata, type MetadataFilter } from '../../src/store/metadata-filter.js';
import { indexExistingChunks } from '../../src/store/pgvector/pgvector-keywords.js';
import type { DocumentStore, DocumentWrite, StoreCollection } from '../../src/store/store-contract.js';
import type { EmbeddedStore } from '../../src/store/embedded-store.js';
import { hnswBackend, pgvectorBackend, type StoreBackend } from '../support/store-backends.js';

/**
 * The keyword (BM25) index on both stores: one tokenizer, one formula, so the same documents and
 * query give the same hits, scores and order on either; deletes and replacements leave the index
 * as if it had been built from the remaining documents alone.
 */

const embedder = new LexicalEmbeddings(128);

function write(id: string, paragraphs: string[], metadata: Metadata = {}): DocumentWrite {
  const text = paragraphs.join('\n\n');
  let start = 0;
  const spans = paragraphs.map((paragraph): [number, number] => {
    const span: [number, number] = [start, start + paragraph.length];
    start += paragraph.length + 2;
    return span;
  });
  return { id, text, metadata, contentHash: contentHash(text, 'paragraphs'), spans, vectors: paragraphs.map((paragraph) => embedder.embed(paragraph)) };
}

const CORPUS: DocumentWrite[] = [
  write('pump-manual', ['The ZX-4417 pump needs a new seal every year.', 'Error E1234 means the pump runs dry.'], { kind: 'manual' }),
  write('valve-manual', ['The ZX-4418 valve is the pump’s twin.', 'Seals and valves wear out; check them yearly.'], { kind: 'manual' }),
  write('faq', ['Why does the pump stop? Usually error E1234 or a blocked inlet.'], { kind: 'faq' }),
  write('chinese', ['水泵需要每年更换密封圈。', '错误代码E1234表示水泵干转。'], { kind: 'manual' }),
  write('cafe', ['Le café de la pompe est fermé.'], { kind: 'faq' }),
  write('tie-a', ['filler words about nothing in particular'], { kind: 'faq' }),
  write('tie-b', ['filler words about nothing in particular'], { kind: 'faq' }),
];

const QUERIES = ['ZX-4417', 'e1234', 'pump seal', '水泵密封', 'cafe', 'filler', 'seals valves yearly', 'nothing matches xyzzy'];

type Ranked = Array<[string, number, number]>;

async function keyword(collection: StoreCollection | undefined, query: string, k = 10, filter?: MetadataFilter, minScore?: number): Promise<Ranked> {
  const hits = (await collection?.searchKeyword(query, k, { filter: filter && { filter, matches: compileFilter(filter) }, minScore })) ?? [];
  return hits.map((hit) => [hit.document.id, hit.chunk, hit.score]);
}

async function rankings(collection: StoreCollection | undefined): Promise<Record<string, Ranked>> {
  const all: Record<string, Ranked> = {};
  for (const query of QUERIES) all[query] = await keyword(collection, query);
  return all;
}

describe('keyword tokenizer', () => {
  it('keeps identifiers whole and in parts, folds case and accents, and cuts CJK into bigrams', () => {
    assert.deepEqual(keywordTerms('The ZX-4417 pump'), ['zx', '4417', 'pump', 'zx-4417']);
    assert.deepEqual(keywordTerms('Error E1234, café'), ['error', 'e1234', 'cafe']);
    assert.deepEqual(keywordTerms('水泵密封'), ['水泵', '泵密', '密封']);
    assert.deepEqual(keywordTerms('what is the'), []);
  });

  it('segments ASCII text exactly as Intl.Segmenter does', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
    const alphabet = "abzAZ019_ .,;:'-/\"!?()\n@#%&*+=<>[]{}|~`^";
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 3000; i++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const expected = [...segmenter.segment(text)].filter((segment) => segment.isWordLike).map((segment) => segment.segment);
      assert.deepEqual(wordSegments(text), expected, JSON.stringify(text));
    }
  });

  it('segments mixed text (ASCII beside accents, marks, joiners, CJK, emoji, odd spaces) exactly as Intl.Segmenter does on the whole text', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
    const pieces = ['a', 'z', '0', '7', '_', '.', ',', "'", '-', ' ', ' ', '\t', '\n', '\r', '\v', 'é', 'e\u0301', '\u0301', '\u200d', '\u200b', '\ufeff', '\u00a0', '\u3000', '水', 'の', 'カ', '한', '🙂', '👍🏽', '🇫', '🇷', '’', '“', '—', 'ß', '٣', 'ａ'];
    let seed = 3;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 10_000; i++) {
      const text = Array.from({ length: Math.floor(random() * 20) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
      const expected = [...segmenter.segment(text)].filter((segment) => segment.isWordLike).map((segment) => segment.segment);
      assert.deepEqual(wordSegments(text), expected, JSON.stringify(text));
    }
  });
});

describe('keyword index pruning', () => {
  it('returns exactly the exhaustive top k, ties included, with common and rare terms mixed', () => {
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const word = () => `w${Math.floor(random() ** 3 * 2000)}`;
    const index = new KeywordIndex();
    // Labels out of order (as a snapshot may load them), some chunks removed again.
    const labels = Array.from({ length: 3000 }, (_, label) => label).sort(() => random() - 0.5);
    const texts = new Map<number, string>();
    for (const label of labels) {
      const text = Array.from({ length: 5 + Math.floor(random() * 60) }, word).join(' ');
      texts.set(label, text);
      index.add(label, text);
    }
    for (const label of labels.slice(0, 300)) index.remove(label, texts.get(label) as string);
    for (let q = 0; q < 200; q++) {
      const query = Array.from({ length: 1 + (q % 5) }, word).join(' ');
      const k = 1 + (q % 20);
      const all = index.search(query, 1_000_000);
      const boundary = all[k - 1]?.score;
      const expected = boundary === undefined ? all : all.filter((match) => match.score >= boundary);
      assert.deepEqual(index.search(query, k), expected, query);
    }
  });

  it('returns what scoring every live chunk does, with deletions, filters and compaction, on random corpora', () => {
    for (const seedOf of [3, 5, 8]) {
      let seed = seedOf;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const vocabulary = 200 + Math.floor(random() * 3000);
      const word = () => `w${Math.floor(random() ** 2 * vocabulary)}`;
      const index = new KeywordIndex();
      const texts = new Map<number, string>();
      const labels = Array.from({ length: 600 }, (_, label) => label);
      if (seedOf === 5) labels.sort(() => random() - 0.5);
      for (const label of labels) {
        const text = Array.from({ length: 1 + Math.floor(random() * 120) }, word).join(' ');
        texts.set(label, text);
        index.add(label, text);
      }
      // Enough removals on one corpus to compact the postings.
      for (const label of labels.slice(0, seedOf === 8 ? 380 : 60)) {
        index.remove(label, texts.get(label) as string);
        texts.delete(label);
      }
      for (let q = 0; q < 60; q++) {
        const query = Array.from({ length: 1 + (q % 6) }, word).join(' ');
        const k = [1, 3, 10, 50, 200][q % 5] as number;
        const filters: Array<((label: number) => boolean) | undefined> = [undefined, (label) => label % 3 !== 0, (label) => label % 97 === 0];
        for (const visible of filters) {
          assert.deepEqual(index.search(query, k, visible), bruteForce(texts, query, k, visible), `${seedOf}: ${query}, k ${k}`);
        }
      }
    }
  });
});

/** The keyword index's answer by scoring every live chunk that `visible` lets through: the k best and ties with the k-th. */
function bruteForce(texts: Map<number, string>, query: string, k: number, visible?: (label: number) => boolean) {
  const documents = [...texts].map(([label, text]) => ({ label, ...termFrequencies(text) }));
  const averageLength = documents.reduce((sum, document) => sum + document.length, 0) / documents.length;
  const terms = queryTerms(query)
    .map((term) => ({ term, df: documents.filter((document) => document.frequencies.has(term)).length }))
    .filter(({ df }) => df > 0)
    .map(({ term, df }) => ({ term, idf: idf(documents.length, df) }))
    .sort((a, b) => b.idf - a.idf);
  const scored = documents
    .filter((document) => (!visible || visible(document.label)) && terms.some(({ term }) => document.frequencies.has(term)))
    .map((document) => {
      let score = 0;
      for (const { term, idf: termIdf } of terms) {
        const tf = document.frequencies.get(term);
        if (tf !== undefined) score += termScore(termIdf, tf, document.length, averageLength);
      }
      return { label: document.label, score: roundScore(score) };
    })
    .sort((a, b) => b.score - a.score || a.label - b.label);
  const boundary = scored[k - 1]?.score;
  return boundary === undefined ? scored : scored.filter((match) => match.score >= boundary);
}

const results = new Map<string, Record<string, Ranked>>();

for (const backend of [hnswBackend(), pgvectorBackend()] as StoreBackend[]) {
  describe(`keyword index: ${backend.name}`, () => {
    const opened: DocumentStore[] = [];
    const open = async () => {
      const store = await backend.open();
      opened.push(store);
      return store;
    };
    before(() => backend.setUp());
    after(() => backend.tearDown());
    beforeEach(() => backend.reset());
    afterEach(async () => {
      for (const store of opened.splice(0).reverse()) await store.close().catch(() => undefined);
    });

    it('ranks exact identifiers, CJK and folded words first, ties in document order', async () => {
      const collection = await (await open()).getOrCreate('kw');
      await collection.upsert(CORPUS);
      const ranked = await rankings(collection);
      results.set(backend.name, ranked);
      assert.deepEqual(ranked['ZX-4417']?.[0]?.slice(0, 2), ['pump-manual', 0]);
      assert.equal(ranked['ZX-4417']?.length, 2, 'the zx part matches the twin valve, lower');
      assert.deepEqual(ranked.e1234?.map(([id, chunk]) => `${id}#${chunk}`).sort(), ['chinese#1', 'faq#0', 'pump-manual#1']);
      assert.deepEqual(ranked['水泵密封']?.[0]?.slice(0, 2), ['chinese', 0]);
      assert.deepEqual(ranked.cafe?.map(([id]) => id), ['cafe']);
      assert.deepEqual(ranked.filler?.map(([id]) => id), ['tie-a', 'tie-b']);
      assert.equal(ranked.filler?.[0]?.[2], ranked.filler?.[1]?.[2]);
      assert.deepEqual(ranked['nothing matches xyzzy']?.map(([id]) => id), ['tie-a', 'tie-b']);
      for (const list of Object.values(ranked)) {
        for (let i = 1; i < list.length; i++) assert.ok((list[i - 1]?.[2] as number) >= (list[i]?.[2] as number));
      }
    });

    it('applies filters and min_score (a BM25 floor) to keyword hits', async () => {
      const collection = await (await open()).getOrCreate('kw');
      await collection.upsert(CORPUS);
      assert.deepEqual((await keyword(collection, 'e1234', 10, { kind: 'faq' })).map(([id]) => id), ['faq']);
      const all = await keyword(collection, 'pump seal');
      const floor = all[1]?.[2] as number;
      assert.deepEqual(await keyword(collection, 'pump seal', 10, undefined, floor), all.filter(([, , score]) => score >= floor));
      assert.ok(all.some(([, , score]) => score < floor));
      assert.deepEqual(await keyword(collection, 'pump seal', 1), all.slice(0, 1));
    });

    it('after deletes and replacements scores as a store built from the remaining documents', async () => {
      const collection = await (await open()).getOrCreate('kw');
      await collection.upsert(CORPUS);
      await collection.deleteDocuments(['faq', 'tie-b']);
      await collection.deleteWhere({ filter: { kind: 'nothing' }, matches: compileFilter({ kind: 'nothing' }) });
      const replaced = write('valve-manual', ['The ZX-4417 adapter fits the valve.']);
      await collection.upsert([replaced]);
      const after = await rankings(collection);
      assert.ok(!JSON.stringify(after).includes('"faq"'), 'a deleted document is gone from keyword search');
      const fresh = await (await open()).getOrCreate('kw-fresh');
      await fresh.upsert([...CORPUS.filter((document) => !['faq', 'tie-b', 'valve-manual'].includes(document.id)), replaced]);
      assert.deepEqual(after, await rankings(fresh));
    });

    it('comes back the same after a restart, from the snapshot and from the log', async () => {
      const first = await open();
      const collection = await first.getOrCreate('kw');
      await collection.upsert(CORPUS.slice(0, 4));
      if (backend.name === 'hnsw') await (first as EmbeddedStore).hnsw.get('kw')?.snapshot();
      await collection.upsert(CORPUS.slice(4));
      await collection.deleteDocuments(['cafe']);
      const before = await rankings(collection);
      const reopened = await open();
      assert.deepEqual(await rankings(await reopened.collection('kw')), before);
    });
  });
}

describe('keyword index: both backends', () => {
  it('rank every query alike: same hits, same scores, same order', () => {
    assert.equal(results.size, 2, 'both backends ran');
    assert.deepEqual(results.get('pgvector'), results.get('hnsw'));
  });
});

describe('keyword index: pgvector migration', () => {
  const backend = pgvectorBackend();
  before(() => backend.setUp());
  after(() => backend.tearDown());

  it('indexes the chunks written before the keyword index existed', async () => {
    await backend.reset();
    const store = await backend.open();
    const collection = await store.getOrCreate('kw');
    await collection.upsert(CORPUS);
    const expected = await rankings(collection);
    const client = new pg.Client(backend.url());
    await client.connect();
    try {
      await client.query('BEGIN');
      for (const sql of ['DELETE FROM rag_terms', 'DELETE FROM rag_keyword_stats', 'UPDATE rag_chunks SET term_count = 0']) await client.query(sql);
      await indexExistingChunks(client);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    assert.deepEqual(await rankings(collection), expected);
    await store.close();
  });
});
