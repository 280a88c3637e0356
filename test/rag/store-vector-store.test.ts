import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Document } from '@langchain/core/documents';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { ChunkDocument, StoreVectorStore } from '../../src/rag/store-vector-store.js';
import { parseFilter } from '../../src/services/filters.js';
import type { DocumentStore } from '../../src/store/store-contract.js';
import { hnswBackend, pgvectorBackend, type StoreBackend } from '../support/store-backends.js';

const embeddings = new LexicalEmbeddings(128);

const DOCUMENTS = [
  new Document({ id: 'pasta', pageContent: 'Italy is known for pasta, pizza and gelato.', metadata: { lang: 'en', topic: 'food' } }),
  new Document({ id: 'espresso', pageContent: 'Espresso is the coffee of Italy.', metadata: { lang: 'en', topic: 'drink' } }),
  new Document({ id: 'pizza-it', pageContent: 'La pizza e la pasta vengono dall Italia.', metadata: { lang: 'it', topic: 'food' } }),
];

for (const backend of [hnswBackend(), pgvectorBackend()] as StoreBackend[]) {
  describe(`the store as a LangChain VectorStore: ${backend.name}`, () => {
    let store: DocumentStore;
    let vectors: StoreVectorStore;

    before(() => backend.setUp());
    after(() => backend.tearDown());
    beforeEach(async () => {
      await backend.reset();
      store = await backend.open();
      vectors = new StoreVectorStore(embeddings, await store.getOrCreate('default'));
      assert.deepEqual(await vectors.addDocuments(DOCUMENTS), ['pasta', 'espresso', 'pizza-it']);
      await backend.settle(store, 'default');
    });
    afterEach(() => store.close());

    it('stores added documents as one chunk each, and finds them by vector, best first, with their sources', async () => {
      const query = await embeddings.embedQuery('pasta and pizza in Italy');
      const hits = await vectors.similaritySearchVectorWithScore(query, 2);
      assert.equal(hits.length, 2);
      const [[best, bestScore], [, secondScore]] = hits as [[ChunkDocument, number], [ChunkDocument, number]];
      assert.ok(best instanceof ChunkDocument);
      assert.equal(best.id, 'pasta');
      assert.equal(best.pageContent, DOCUMENTS[0]!.pageContent);
      assert.deepEqual(best.metadata, { lang: 'en', topic: 'food' });
      assert.deepEqual(best.source.chunk, { index: 0, start: 0, end: DOCUMENTS[0]!.pageContent.length });
      assert.equal(best.source.score, bestScore);
      assert.ok(bestScore >= secondScore && bestScore > 0);
      assert.equal((await store.collection('default'))?.name, 'default');
    });

    it('takes vectors it is given, replacing a document of the same id', async () => {
      const vector = await embeddings.embedQuery('gelato');
      const replacement = new Document({ pageContent: 'Gelato is Italian ice cream.', metadata: { lang: 'en', topic: 'food' } });
      assert.deepEqual(await vectors.addVectors([vector], [replacement], { ids: ['pasta'] }), ['pasta']);
      await backend.settle(store, 'default');
      const [[best, score]] = (await vectors.similaritySearchVectorWithScore(vector, 1)) as [[ChunkDocument, number]];
      assert.equal(best.id, 'pasta');
      assert.equal(best.pageContent, 'Gelato is Italian ice cream.');
      assert.ok(score > 0.99, `the stored vector itself: ${score}`);
      await assert.rejects(vectors.addVectors([vector], []), RangeError);
    });

    it('serves as a retriever with k, a metadata filter and a score floor', async () => {
      const italian = vectors.asRetriever({ k: 3, filter: { filter: parseFilter({ lang: 'it' }) } });
      assert.deepEqual((await italian.invoke('pizza')).map((document) => document.id), ['pizza-it']);
      const two = await vectors.asRetriever({ k: 2 }).invoke('Italy pasta pizza');
      assert.equal(two.length, 2);
      assert.ok(two.every((document) => document instanceof ChunkDocument));
      const strict = await vectors.asRetriever({ k: 3, filter: { minScore: 0.999 } }).invoke('Italy pasta pizza');
      assert.deepEqual(strict, []);
    });

    it('deletes by id and by metadata filter', async () => {
      await vectors.delete({ ids: ['espresso'] });
      await vectors.delete({ filter: parseFilter({ lang: 'it' }) });
      await backend.settle(store, 'default');
      const left = await vectors.asRetriever({ k: 3 }).invoke('Italy espresso pizza pasta');
      assert.deepEqual(left.map((document) => document.id), ['pasta']);
    });
  });
}
