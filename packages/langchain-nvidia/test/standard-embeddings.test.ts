/*
 * The ground LangChain's own embeddings tests cover (embed a query, documents, a batch larger than
 * one request, abort, serialisation), for NVIDIAEmbeddings against the emulated NIM.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Embeddings } from '@langchain/core/embeddings';
import { load } from '@langchain/core/load';
import * as nvidia from '@nim-rag/langchain-nvidia';
import { NVIDIAEmbeddings, type NVIDIAEmbeddingsParams } from '@nim-rag/langchain-nvidia';
import { EMBED_MODEL, emulatedEmbedding, NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const KEY = 'nvapi-embeddings-suite-key';

describe('NVIDIAEmbeddings: the standard embeddings tests, against the emulated NIM', () => {
  let emulator: NimEmulator;
  let args: NVIDIAEmbeddingsParams;
  const embeddings = (more: NVIDIAEmbeddingsParams = {}) => new NVIDIAEmbeddings({ ...args, ...more });

  before(async () => {
    emulator = await NimEmulator.start({ models: [EMBED_MODEL], apiKey: KEY, embedLatencyMs: 2 });
    args = { baseUrl: emulator.url, apiKey: KEY, model: EMBED_MODEL, pollingUrl: emulator.pollingUrl, logger: quiet };
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());
  const sent = () => emulator.requestsTo('/v1/embeddings').map((request) => request.body);

  it('embeds a query into one vector of the model’s size, as a query', async () => {
    const model: Embeddings = embeddings();
    const vector = await model.embedQuery('What kinds of food is Italy known for?');
    assert.equal(vector.length, 1024);
    assert.ok(vector.every((value) => typeof value === 'number'));
    assert.deepEqual(vector, emulatedEmbedding('What kinds of food is Italy known for?', 1024));
    assert.equal(sent()[0].input_type, 'query');
  });

  it('embeds documents in input order, as passages, and more than one request takes in batches', async () => {
    const texts = Array.from({ length: 120 }, (_, index) => `document ${index}`);
    const vectors = await embeddings().embedDocuments(texts);
    assert.equal(vectors.length, 120);
    texts.forEach((text, index) => assert.deepEqual(vectors[index], emulatedEmbedding(text, 1024)));
    assert.deepEqual(sent().map((body) => body.input.length).sort((a, b) => a - b), [20, 50, 50]);
    assert.ok(sent().every((body) => body.input_type === 'passage'));
    assert.deepEqual(await embeddings().embedDocuments([]), []);
  });

  it('stops when the caller aborts, with the caller’s reason, and sends nothing for an aborted signal', async () => {
    await assert.rejects(embeddings().embedQuery('hi', { signal: AbortSignal.abort(new Error('gone already')) }), /gone already/);
    assert.equal(sent().length, 0);
    const slow = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 5_000 });
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('caller left')), 30);
      await assert.rejects(embeddings({ baseUrl: slow.url, apiKey: undefined }).embedDocuments(['a', 'b'], { signal: controller.signal }), /caller left/);
    } finally {
      await slow.stop();
    }
  });

  it('follows a request the hosted catalog accepted with 202 to its result, polling NVCF-REQID', async () => {
    emulator.failNext({ path: '/v1/embeddings', accepted: 2 });
    assert.deepEqual(await embeddings().embedQuery('queued'), emulatedEmbedding('queued', 1024));
    const polls = emulator.requests.filter((request) => request.path.startsWith('/v2/nvcf/pexec/status/'));
    assert.equal(polls.length, 3);
    assert.ok(polls.every((poll) => poll.headers.authorization === `Bearer ${KEY}`));
  });

  it('round-trips through @langchain/core/load with the key as a secret reference, and embeds the same', async () => {
    const original = embeddings({ truncate: 'END', batchSize: 10 });
    const json = JSON.stringify(original);
    assert.ok(!json.includes(KEY));
    const serialized = JSON.parse(json);
    assert.deepEqual(serialized.id, ['langchain', 'embeddings', 'nvidia', 'NVIDIAEmbeddings']);
    assert.deepEqual(serialized.kwargs.nvidia_api_key, { lc: 1, type: 'secret', id: ['NVIDIA_API_KEY'] });
    assert.equal(serialized.kwargs.logger, undefined);
    const loaded = await load<NVIDIAEmbeddings>(json, { importMap: { embeddings__nvidia: nvidia }, secretsMap: { NVIDIA_API_KEY: KEY } });
    assert.ok(loaded instanceof NVIDIAEmbeddings);
    assert.deepEqual([loaded.model, loaded.baseUrl, loaded.truncate, loaded.batchSize], [EMBED_MODEL, emulator.url, 'END', 10]);
    assert.deepEqual(await loaded.embedQuery('hello'), await original.embedQuery('hello'));
    await Promise.all([loaded.close(), original.close()]);
  });
});
