import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { startTestApp, storeTotals, type TestApp } from '../support/test-app.js';

const KEY = 'key-0123456789abcdef';
const OTHER_KEY = 'key-fedcba9876543210';

describe('API keys', () => {
  let test: TestApp;
  const get = (url: string, key?: string) =>
    test.app.inject({ method: 'GET', url, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });

  before(async () => {
    test = await startTestApp({ API_KEYS: `${KEY}, ${OTHER_KEY}` });
  });
  after(() => test.close());

  it('refuses a request without a key with 401, WWW-Authenticate and a problem', async () => {
    const response = await get('/v1/collections');
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="nim-rag"');
    assert.match(response.headers['content-type'] as string, /^application\/problem\+json/);
    assert.equal(response.json().type, '/problems/unauthorized');
  });

  it('refuses a wrong key, saying the token is invalid', async () => {
    const response = await get('/v1/collections', 'key-0123456789abcdeX');
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="nim-rag", error="invalid_token"');
    assert.equal((await get('/v1/collections', `${KEY} trailing`)).statusCode, 401);
  });

  it('accepts every configured key', async () => {
    assert.equal((await get('/v1/collections', KEY)).statusCode, 200);
    assert.equal((await get('/v1/collections', OTHER_KEY)).statusCode, 200);
    assert.equal((await test.app.inject({ method: 'GET', url: '/v1/collections', headers: { authorization: `bearer ${KEY}` } })).statusCode, 200);
  });

  it('keeps the health checks, the contract and its view public, and metrics behind the key', async () => {
    for (const path of ['/v1/health/live', '/v1/health/ready', '/openapi.yaml', '/docs', '/docs/assets/start.js']) {
      assert.equal((await get(path)).statusCode, 200, path);
    }
    assert.equal((await get('/metrics')).statusCode, 401);
    assert.equal((await get('/metrics', KEY)).statusCode, 200);
  });

  it('makes public exactly the configured paths', async () => {
    const custom = await startTestApp({ API_KEYS: KEY, PUBLIC_PATHS: '/v1/health/live,/metrics' });
    try {
      const status = async (url: string) => (await custom.app.inject({ method: 'GET', url })).statusCode;
      assert.deepEqual([await status('/v1/health/live'), await status('/metrics'), await status('/v1/health/ready'), await status('/docs')], [200, 200, 401, 401]);
    } finally {
      await custom.close();
    }
  });
});

describe('limits', () => {
  it('rate limits per key, with 429, Retry-After and a problem, leaving public paths alone', async () => {
    const test = await startTestApp({ API_KEYS: `${KEY},${OTHER_KEY}`, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    try {
      const get = (url: string, key: string) => test.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get('/v1/collections', KEY)).statusCode);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const limited = await get('/v1/collections', KEY);
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60);
      assert.equal(limited.json().type, '/problems/rate-limited');
      assert.match(limited.json().detail, /more than 3 requests in 60 s from this API key/);
      assert.equal((await get('/v1/collections', OTHER_KEY)).statusCode, 200, 'each key has its own budget');
      for (let i = 0; i < 5; i++) assert.equal((await test.app.inject({ method: 'GET', url: '/v1/health/live' })).statusCode, 200);
    } finally {
      await test.close();
    }
  });

  it('refuses a body over BODY_LIMIT_BYTES with 413 and stores nothing', async () => {
    const test = await startTestApp({ BODY_LIMIT_BYTES: '2048' });
    try {
      const response = await test.app.inject({
        method: 'POST',
        url: '/v1/documents',
        payload: { documents: [{ id: 'big', text: 'word '.repeat(1000) }] },
      });
      assert.equal(response.statusCode, 413);
      assert.equal(response.json().type, '/problems/http-413');
      assert.equal((await storeTotals(test.services.store)).documents, 0);
    } finally {
      await test.close();
    }
  });

  it('stops a request at REQUEST_TIMEOUT_MS with a 504, cancelling its NIM call', async () => {
    const llm = await NimEmulator.start({ models: [LLM_MODEL], chatLatencyMs: 5000 });
    const test = await startTestApp({ NIM_LLM_URL: llm.url, EMBEDDINGS_PROVIDER: 'local', REQUEST_TIMEOUT_MS: '300', NIM_MAX_RETRIES: '0' });
    try {
      await test.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: [{ text: 'Italy is famous for pasta.' }] } });
      const started = performance.now();
      const response = await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { question: 'What is Italy famous for?' } });
      assert.equal(response.statusCode, 504);
      assert.equal(response.json().type, '/problems/request-timeout');
      assert.ok(performance.now() - started < 2000, 'the reply did not wait for the slow NIM');
      const metrics = (await test.app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /nim_request_duration_seconds_count\{endpoint="\/chat\/completions",model="[^"]+",status="cancelled"\} 1/, 'the NIM call was cancelled');
    } finally {
      await test.close();
      await llm.stop();
    }
  });
});
