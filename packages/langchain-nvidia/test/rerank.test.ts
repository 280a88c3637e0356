import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Document } from '@langchain/core/documents';
import { NVIDIAError, NVIDIARerank } from '@nim-rag/langchain-nvidia';
import { NimEmulator, RERANK_MODEL } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const PASSAGES = [
  "Komchatka's weather is cold, with long, severe winters.",
  'Italy is famous for pasta, pizza, gelato, and espresso.',
  "I can't recall personal names, only provide information.",
  "Life's purpose varies, often seen as personal fulfillment.",
  "Enjoying life's moments is indeed a wonderful approach.",
];

describe('NVIDIARerank against the emulated reranking NIM', () => {
  let emulator: NimEmulator;

  before(async () => {
    emulator = await NimEmulator.start({ apiKey: 'nvapi-test', maxInputTokens: 40 });
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());

  it('keeps the topN documents best first, scored in metadata.relevance_score, with the request the ranking API takes', async () => {
    const reranker = new NVIDIARerank({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: RERANK_MODEL, topN: 2, logger: quiet });
    const documents = PASSAGES.map((text, index) => new Document({ pageContent: text, metadata: { id: index } }));
    const kept = await reranker.compressDocuments(documents, 'What kinds of food is Italy known for?');
    assert.equal(kept.length, 2);
    assert.equal(kept[0]?.pageContent, PASSAGES[1]);
    assert.equal(kept[0]?.metadata.id, 1);
    const [first, second] = kept.map((document) => document.metadata.relevance_score as number);
    assert.ok((first as number) >= (second as number));
    const [request] = emulator.requestsTo('/v1/ranking');
    assert.deepEqual(request?.body, {
      model: RERANK_MODEL,
      query: { text: 'What kinds of food is Italy known for?' },
      passages: PASSAGES.map((text) => ({ text })),
      truncate: 'NONE',
    });
    assert.equal(request?.headers.authorization, 'Bearer nvapi-test');
    await reranker.close();
  });

  it('ranks more passages than one request takes in batches, with indexes into the whole list', async () => {
    const reranker = new NVIDIARerank({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: RERANK_MODEL, maxBatchSize: 2, logger: quiet });
    const rankings = await reranker.rank('Italy food pasta', PASSAGES);
    assert.deepEqual(rankings.map((ranking) => ranking.index).sort(), [0, 1, 2, 3, 4]);
    assert.equal(rankings[0]?.index, 1);
    assert.deepEqual(emulator.requestsTo('/v1/ranking').map((request) => request.body.passages.length).sort(), [1, 2, 2]);
    for (let position = 1; position < rankings.length; position++) {
      assert.ok((rankings[position - 1] as { logit: number }).logit >= (rankings[position] as { logit: number }).logit);
    }
    await reranker.close();
  });

  it('turns an over-long pair into a typed input-too-long error, and cuts it instead with truncate END', async () => {
    const long = Array.from({ length: 60 }, (_, index) => `word${index}`).join(' ');
    const strict = new NVIDIARerank({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: RERANK_MODEL, logger: quiet });
    await assert.rejects(strict.rank('query', [long]), (error: unknown) => error instanceof NVIDIAError && error.kind === 'input-too-long');
    const cutting = new NVIDIARerank({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: RERANK_MODEL, truncate: 'END', logger: quiet });
    assert.equal((await cutting.rank('query', [long])).length, 1);
    await Promise.all([strict.close(), cutting.close()]);
  });

  it('refuses a reply that does not rank every passage exactly once', async () => {
    emulator.failNext({ path: '/v1/ranking', status: 200, body: { rankings: [{ index: 0, logit: 1 }, { index: 0, logit: 2 }] } });
    const reranker = new NVIDIARerank({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: RERANK_MODEL, logger: quiet });
    await assert.rejects(reranker.rank('q', ['a', 'b']), (error: unknown) => error instanceof NVIDIAError && error.kind === 'bad-response');
    await reranker.close();
  });

  it('calls a hosted reranking model at the catalog endpoint the model has', () => {
    const reranker = new NVIDIARerank({ apiKey: 'nvapi-x', logger: quiet });
    assert.equal(reranker.model, 'nvidia/llama-3.2-nv-rerankqa-1b-v2');
  });
});
