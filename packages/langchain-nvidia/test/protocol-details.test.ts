import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseUrlFor, discoverModel, normalizeBaseUrl, NVIDIAClient, parseRetryAfter, resolveModelAlias } from '@nim-rag/langchain-nvidia';
import { classifyHttpFailure, nimMessageOf, tokenLimitOf } from '../src/errors.js';
import { NimEmulator } from './support/nim-emulator.js';
import { capturingLogger, quiet } from './support/helpers.js';

describe('base URL normalisation, as the Python client does it', () => {
  const cases: Array<[string, string, boolean]> = [
    ['http://nim:8000/v1', 'http://nim:8000/v1', false],
    ['http://nim:8000/v1/', 'http://nim:8000/v1', false],
    ['http://nim:8000', 'http://nim:8000/v1', true],
    ['http://nim:8000/', 'http://nim:8000/v1', true],
    ['https://gateway.example/nim/', 'https://gateway.example/nim/v1', true],
    ['http://nim:8000/v1?x=1#y', 'http://nim:8000/v1', false],
  ];
  for (const [raw, expected, warns] of cases) {
    it(`${raw} → ${expected}${warns ? ' with a warning' : ''}`, () => {
      const { url, warning } = normalizeBaseUrl(raw);
      assert.equal(url, expected);
      assert.equal(Boolean(warning), warns);
      if (warning) assert.match(warning, /has no \/v1 path/);
    });
  }
});

describe('model names', () => {
  it('resolves old catalog aliases with a deprecation warning', () => {
    const { logger, lines } = capturingLogger();
    assert.equal(resolveModelAlias('ai-mixtral-8x7b-instruct', logger), 'mistralai/mixtral-8x7b-instruct-v0.1');
    assert.equal(resolveModelAlias('playground_nvolveqa_40k', logger), 'NV-Embed-QA');
    assert.equal(resolveModelAlias('ai-embed-qa-4', logger), 'NV-Embed-QA');
    assert.equal(lines.length, 3);
    assert.equal(lines[0]?.level, 'warn');
    assert.equal(lines[0]?.msg, 'Model ai-mixtral-8x7b-instruct is deprecated. Using mistralai/mixtral-8x7b-instruct-v0.1 instead.');
  });

  it('leaves canonical and unknown names alone, silently', () => {
    const { logger, lines } = capturingLogger();
    assert.equal(resolveModelAlias('mistralai/mixtral-8x7b-instruct-v0.1', logger), 'mistralai/mixtral-8x7b-instruct-v0.1');
    assert.equal(resolveModelAlias('my-org/custom-model', logger), 'my-org/custom-model');
    assert.equal(lines.length, 0);
  });

  it('calls NV-Embed-QA at its own hosted address, as the catalog gives it, and other models at the configured URL', () => {
    const catalog = 'https://integrate.api.nvidia.com/v1';
    assert.deepEqual(baseUrlFor(catalog, 'NV-Embed-QA'), { url: 'https://ai.api.nvidia.com/v1/retrieval/nvidia', warning: undefined });
    assert.deepEqual(baseUrlFor(catalog, 'nvidia/nv-embedqa-e5-v5'), { url: catalog, warning: undefined });
    assert.deepEqual(baseUrlFor('http://nim:8000/v1/', undefined), { url: 'http://nim:8000/v1', warning: undefined });
    assert.match(baseUrlFor('http://nim:8000', undefined).warning ?? '', /has no \/v1 path; using http:\/\/nim:8000\/v1/);
  });

  it('discovers the model a self-hosted NIM serves, skipping derived models, and logs it', async () => {
    const emulator = await NimEmulator.start({ models: ['nvidia/nv-embedqa-e5-v5'] });
    try {
      const { logger, lines } = capturingLogger();
      const client = new NVIDIAClient({
        baseUrl: emulator.url,
        apiKey: undefined,
        timeoutMs: 1000,
        maxRetries: 0,
        maxConcurrency: 1,
            logger: quiet,
      });
      assert.equal(await discoverModel(client, logger, 'embedding'), 'nvidia/nv-embedqa-e5-v5');
      assert.match(lines.at(-1)?.msg ?? '', /using embedding model nvidia\/nv-embedqa-e5-v5, discovered from/);
    } finally {
      await emulator.stop();
    }
  });
});

describe('reading NIM error replies', () => {
  it('finds the message in the shapes NIMs and the catalog use', () => {
    assert.equal(nimMessageOf('{"error":"Input length 600 exceeds maximum allowed token size 512"}'), 'Input length 600 exceeds maximum allowed token size 512');
    assert.equal(nimMessageOf('{"detail":"Function not found"}'), 'Function not found');
    assert.equal(nimMessageOf('{"object":"error","message":"bad model","type":"invalid_request_error"}'), 'bad model');
    assert.equal(nimMessageOf('{"detail":[{"loc":["body","input"],"msg":"field required"}]}'), 'field required');
    assert.equal(nimMessageOf('{"error":{"message":"nested"}}'), 'nested');
    assert.equal(nimMessageOf('upstream connect error'), 'upstream connect error');
    assert.equal(nimMessageOf(''), '');
  });

  it('reads token limits and Retry-After in both forms', () => {
    assert.equal(tokenLimitOf('Input length 600 exceeds maximum allowed token size 512'), 512);
    assert.equal(tokenLimitOf('something else'), undefined);
    assert.equal(parseRetryAfter('3'), 3);
    assert.equal(parseRetryAfter(null), undefined);
    const now = Date.parse('2026-11-24T10:00:00Z');
    assert.equal(parseRetryAfter('Tue, 24 Nov 2026 10:00:30 GMT', now), 30);
  });

  it('classifies final failures into the statuses callers see', () => {
    const classify = (status: number, body: string) => classifyHttpFailure({ status, body, model: 'm', url: 'http://nim/v1' });
    assert.equal(classify(400, '{"error":"Input length 600 exceeds maximum allowed token size 512"}').kind, 'input-too-long');
    assert.equal(classify(400, '{"error":"Batch size 51 is larger than the maximum of 50"}').kind, 'rejected-request');
    assert.equal(classify(400, '{"detail":"DEGRADED function cannot be invoked"}').kind, 'model-degraded');
    assert.equal(classify(403, '{}').kind, 'auth');
    assert.equal(classify(404, '{}').kind, 'model-unavailable');
    assert.equal(classify(408, '{}').kind, 'timeout');
    assert.equal(classify(410, '{}').kind, 'model-retired');
    assert.equal(classify(429, '{}').kind, 'rate-limited');
    assert.equal(classify(500, '{}').kind, 'server-error');
    assert.equal(classify(503, '{}').kind, 'busy');
  });
});

describe('pacing', () => {
  it('waits for the pacer before every attempt, retries included', async () => {
    const emulator = await NimEmulator.start();
    try {
      let paced = 0;
      const client = new NVIDIAClient({
        baseUrl: emulator.url,
        apiKey: undefined,
        timeoutMs: 1000,
        maxRetries: 2,
        maxConcurrency: 1,
        hooks: {
          beforeAttempt: async () => {
            paced += 1;
          },
        },
        logger: quiet,
        retryBaseDelayMs: 1,
      });
      emulator.failNext({ path: '/v1/models', status: 503, times: 2 });
      await client.getJson('/models', { model: 'm' });
      assert.equal(paced, 3);
    } finally {
      await emulator.stop();
    }
  });
});
