import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { NVIDIAEmbeddings, NVIDIAError } from '@nim-rag/langchain-nvidia';
import { emulatedEmbedding, NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

const MODEL = 'NV-Embed-QA';

describe('NVIDIAEmbeddings on the wire', () => {
  let emulator: NimEmulator;

  before(async () => {
    emulator = await NimEmulator.start({ apiKey: 'nvapi-test', reverseEmbeddingOrder: true });
  });
  after(() => emulator.stop());
  beforeEach(() => emulator.reset());

  it('asks for base64 and decodes the little-endian float32s into exactly the vectors the NIM computed', async () => {
    const embeddings = new NVIDIAEmbeddings({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: MODEL, logger: quiet });
    const texts = Array.from({ length: 70 }, (_, index) => `passage ${index} on topic ${index % 7}`);
    const vectors = await embeddings.embedDocuments(texts);
    texts.forEach((text, index) => assert.deepEqual(vectors[index], emulatedEmbedding(text, 1024), `vector ${index}`));
    const requests = emulator.requestsTo('/v1/embeddings');
    assert.deepEqual(requests.map((request) => request.body.input.length).sort((a, b) => b - a), [50, 20]);
    for (const request of requests) {
      assert.equal(request.body.encoding_format, 'base64');
      assert.equal(request.body.input_type, 'passage');
    }
    const query = await embeddings.embedQuery('the weather in Komchatka');
    assert.deepEqual(query, emulatedEmbedding('the weather in Komchatka', 1024));
    assert.equal(emulator.requestsTo('/v1/embeddings').at(-1)?.body.input_type, 'query');
    await embeddings.close();
  });

  it('gives the float32 vectors themselves through embedVectors', async () => {
    const embeddings = new NVIDIAEmbeddings({ baseUrl: emulator.url, apiKey: 'nvapi-test', model: MODEL, logger: quiet });
    const [vector] = await embeddings.embedVectors(['one text'], 'passage');
    assert.ok(vector instanceof Float32Array);
    assert.deepEqual(Array.from(vector), emulatedEmbedding('one text', 1024));
    await embeddings.close();
  });

  it('reads NVIDIA_API_KEY when no key is given, and keeps it out of serialisation', async () => {
    const saved = process.env.NVIDIA_API_KEY;
    process.env.NVIDIA_API_KEY = 'nvapi-test';
    try {
      const embeddings = new NVIDIAEmbeddings({ baseUrl: emulator.url, model: MODEL, logger: quiet });
      await embeddings.embedQuery('hello');
      assert.equal(emulator.requestsTo('/v1/embeddings')[0]?.headers.authorization, 'Bearer nvapi-test');
      assert.deepEqual(embeddings.lc_secrets, { apiKey: 'NVIDIA_API_KEY' });
      await embeddings.close();
    } finally {
      if (saved === undefined) delete process.env.NVIDIA_API_KEY;
      else process.env.NVIDIA_API_KEY = saved;
    }
  });

  it('defaults to the hosted catalog and nvidia/nv-embedqa-e5-v5; NV-Embed-QA is called at its own address', () => {
    const embeddings = new NVIDIAEmbeddings({ apiKey: 'nvapi-x', logger: quiet });
    assert.equal(embeddings.model, 'nvidia/nv-embedqa-e5-v5');
    assert.equal(embeddings.baseUrl, 'https://integrate.api.nvidia.com/v1');
    assert.equal(new NVIDIAEmbeddings({ apiKey: 'nvapi-x', model: 'NV-Embed-QA', logger: quiet }).baseUrl, 'https://ai.api.nvidia.com/v1/retrieval/nvidia');
  });

  it('asks a self-hosted NIM given no model which model it serves, once', async () => {
    const embeddings = new NVIDIAEmbeddings({ baseUrl: emulator.origin, apiKey: 'nvapi-test', logger: quiet });
    assert.equal(embeddings.model, '');
    await Promise.all([embeddings.embedQuery('a'), embeddings.embedQuery('b')]);
    assert.equal(embeddings.model, 'NV-Embed-QA');
    assert.equal(emulator.requestsTo('/v1/models').length, 1);
    await embeddings.close();
  });

  it('raises typed errors: a wrong key is kind "auth" with the NIM status', async () => {
    const embeddings = new NVIDIAEmbeddings({ baseUrl: emulator.url, apiKey: 'nvapi-wrong', model: MODEL, logger: quiet });
    await assert.rejects(embeddings.embedQuery('x'), (error: unknown) => {
      assert.ok(error instanceof NVIDIAError);
      assert.equal(error.kind, 'auth');
      assert.equal(error.upstreamStatus, 401);
      return true;
    });
    await embeddings.close();
  });
});

describe('NVIDIAEmbeddings with a NIM that refuses base64', () => {
  let emulator: NimEmulator;

  before(async () => {
    emulator = await NimEmulator.start({ refuseBase64: true });
  });
  after(() => emulator.stop());

  it('falls back to floats after the first refusal, with a warning, and asks for floats from then on', async () => {
    const warnings: string[] = [];
    const embeddings = new NVIDIAEmbeddings({ baseUrl: emulator.url, model: MODEL, logger: { warn: (_details, message) => warnings.push(message) } });
    assert.deepEqual(await embeddings.embedQuery('first'), emulatedEmbedding('first', 1024));
    assert.deepEqual(await embeddings.embedDocuments(['second']), [emulatedEmbedding('second', 1024)]);
    const formats = emulator.requestsTo('/v1/embeddings').map((request) => request.body.encoding_format);
    assert.deepEqual(formats, ['base64', 'float', 'float']);
    assert.equal(embeddings.encodingFormat, 'float');
    assert.match(warnings.join('\n'), /refuses base64/);
    await embeddings.close();
  });
});
