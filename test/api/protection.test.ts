import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services/create-services.js';
import { pino } from 'pino';
import { loggerOptions } from '../../src/logger.js';
import { startTestApp, temporaryDir } from '../support/test-app.js';

const KEY = 'key-0123456789abcdef';

describe('protection', () => {
  it('sends security headers: a strict policy on the API, the page\'s own on /docs', async () => {
    const test = await startTestApp();
    try {
      const api = await test.app.inject({ method: 'GET', url: '/v1/collections' });
      assert.equal(api.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
      assert.equal(api.headers['x-content-type-options'], 'nosniff');
      const error = await test.app.inject({ method: 'GET', url: '/v1/nothing' });
      assert.equal(error.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", 'errors too');
      const docs = await test.app.inject({ method: 'GET', url: '/docs' });
      assert.match(String(docs.headers['content-security-policy']), /^default-src 'self';script-src 'self';/);
      assert.doesNotMatch(String(docs.headers['content-security-policy']), /script-src[^;]*unsafe/);
    } finally {
      await test.close();
    }
  });

  it('counts requests with a wrong or missing key against the client\'s address', async () => {
    const test = await startTestApp({ API_KEYS: KEY, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    try {
      const statuses = [];
      for (const key of ['guess-1', 'guess-2', undefined, 'guess-4']) {
        const response = await test.app.inject({ method: 'GET', url: '/v1/collections', headers: key ? { authorization: `Bearer ${key}` } : {} });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      const valid = await test.app.inject({ method: 'GET', url: '/v1/collections', headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(valid.statusCode, 200, 'the key has its own budget');
    } finally {
      await test.close();
    }
  });

  it('answers only the allowed Host names when ALLOWED_HOSTS is set', async () => {
    const test = await startTestApp({ ALLOWED_HOSTS: 'localhost, rag.internal' });
    try {
      const status = async (host: string) => (await test.app.inject({ method: 'GET', url: '/v1/collections', headers: { host } })).statusCode;
      assert.deepEqual([await status('localhost:8080'), await status('RAG.internal'), await status('attacker.example')], [200, 200, 403]);
      const refused = await test.app.inject({ method: 'GET', url: '/v1/collections', headers: { host: 'attacker.example' } });
      assert.equal(refused.json().type, '/problems/host-not-allowed');
    } finally {
      await test.close();
    }
  });

  it('sheds requests with 503 and Retry-After while the event loop lags, never the health checks', async () => {
    const test = await startTestApp({ MAX_EVENT_LOOP_DELAY_MS: '40' });
    try {
      // Stall the loop until the sampler has seen it.
      let shed;
      for (let attempt = 0; attempt < 20 && shed?.statusCode !== 503; attempt++) {
        const until = performance.now() + 200;
        while (performance.now() < until);
        await new Promise((resolve) => setTimeout(resolve, 25));
        shed = await test.app.inject({ method: 'GET', url: '/v1/collections' });
      }
      assert.equal(shed?.statusCode, 503);
      assert.equal(shed?.headers['retry-after'], '5');
      assert.equal(shed?.json().type, '/problems/overloaded');
      assert.equal((await test.app.inject({ method: 'GET', url: '/v1/health/live' })).statusCode, 200);
    } finally {
      await test.close();
    }
  });

  it('tells an anonymous caller of /v1/health/ready only whether the service is ready', async () => {
    const test = await startTestApp({ API_KEYS: KEY });
    try {
      const anonymous = await test.app.inject({ method: 'GET', url: '/v1/health/ready' });
      assert.deepEqual(anonymous.json(), { status: 'ready', offline: true });
      const keyed = await test.app.inject({ method: 'GET', url: '/v1/health/ready', headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(keyed.json().store.documents, 0);
      assert.equal(keyed.json().providers.llm.model, 'local-extractive');
    } finally {
      await test.close();
    }
  });

  it('never logs a key sent in the query string', async () => {
    const lines: string[] = [];
    const logger = pino(loggerOptions('info', false), { write: (line: string) => lines.push(line) });
    const config = loadConfig({ DATA_DIR: await temporaryDir() });
    const services = await createServices(config, logger);
    const app = await buildApp({ config, services, logger });
    try {
      await app.inject({ method: 'GET', url: '/v1/collections?api_key=sk-secret-1&token=sk-secret-2&limit=5' });
      const logged = lines.join('');
      assert.doesNotMatch(logged, /sk-secret/);
      assert.match(logged, /api_key=%5Bredacted%5D&token=%5Bredacted%5D&limit=5/);
    } finally {
      await app.close();
      await services.close();
    }
  });
});
