/*
 * The ground of a LangChain document compressor's tests (keep the best documents, rank, abort,
 * serialisation), for NVIDIARerank against the emulated reranking NIM.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Document } from '@langchain/core/documents';
import { load } from '@langchain/core/load';
import { BaseDocumentCompressor } from '@langchain/core/retrievers/document_compressors';
import * as nvidia from '@nim-rag/langchain-nvidia';
import { NVIDIARerank, type NVIDIARerankParams } from '@nim-rag/langchain-nvidia';
import { NimEmulator, RERANK_MODEL } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const KEY = 'nvapi-rerank-suite-key';
const QUERY = 'What kinds of food is Italy known for?';
const PASSAGES = ["Komchatka's weather is cold, with long, severe winters.", 'Italy is famous for pasta, pizza, gelato, and espresso.', 'Life is short.'];

describe('NVIDIARerank: the standard document compressor tests, against the emulated NIM', () => {
  let emulator: NimEmulator;
  let args: NVIDIARerankParams;
  const reranker = (more: NVIDIARerankParams = {}) => new NVIDIARerank({ ...args, ...more });
  const documents = PASSAGES.map((text, index) => new Document({ pageContent: text, metadata: { index } }));

  before(async () => {
    emulator = await NimEmulator.start({ models: [RERANK_MODEL], apiKey: KEY });
    args = { baseUrl: emulator.url, apiKey: KEY, model: RERANK_MODEL, pollingUrl: emulator.pollingUrl, logger: quiet };
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());

  it('is a document compressor that keeps the topN documents best first, with their scores', async () => {
    const compressor = reranker({ topN: 2 });
    assert.ok(BaseDocumentCompressor.isBaseDocumentCompressor(compressor));
    const kept = await compressor.compressDocuments(documents, QUERY);
    assert.equal(kept.length, 2);
    assert.equal(kept[0]?.metadata.index, 1);
    const scores = kept.map((document) => document.metadata.relevance_score as number);
    assert.ok(scores[0]! > scores[1]!);
    assert.deepEqual(await compressor.compressDocuments([], QUERY), []);
  });

  it('ranks every passage, best first, with indexes into the list given', async () => {
    const rankings = await reranker().rank(QUERY, PASSAGES);
    assert.deepEqual(rankings.map((ranking) => ranking.index).sort(), [0, 1, 2]);
    assert.equal(rankings[0]?.index, 1);
  });

  it('stops when the caller aborts, with the caller’s reason', async () => {
    await assert.rejects(reranker().rank(QUERY, PASSAGES, { signal: AbortSignal.abort(new Error('gone already')) }), /gone already/);
    assert.equal(emulator.requestsTo('/v1/ranking').length, 0);
  });

  it('follows a request the hosted catalog accepted with 202 to its result', async () => {
    emulator.failNext({ path: '/v1/ranking', accepted: 1 });
    assert.equal((await reranker().rank(QUERY, PASSAGES))[0]?.index, 1);
    assert.equal(emulator.requests.filter((request) => request.path.startsWith('/v2/nvcf/pexec/status/')).length, 2);
  });

  it('round-trips through @langchain/core/load with the key as a secret reference, and ranks the same', async () => {
    const original = reranker({ topN: 1, truncate: 'END' });
    const json = JSON.stringify(original);
    assert.ok(!json.includes(KEY));
    const serialized = JSON.parse(json);
    assert.deepEqual(serialized.id, ['langchain', 'document_compressors', 'nvidia', 'NVIDIARerank']);
    assert.deepEqual(serialized.kwargs.nvidia_api_key, { lc: 1, type: 'secret', id: ['NVIDIA_API_KEY'] });
    const loaded = await load<NVIDIARerank>(json, { importMap: { document_compressors__nvidia: nvidia }, secretsMap: { NVIDIA_API_KEY: KEY } });
    assert.ok(loaded instanceof NVIDIARerank);
    assert.deepEqual([loaded.model, loaded.topN, loaded.truncate], [RERANK_MODEL, 1, 'END']);
    assert.deepEqual(await loaded.compressDocuments(documents, QUERY), await original.compressDocuments(documents, QUERY));
    await Promise.all([loaded.close(), original.close()]);
  });
});
