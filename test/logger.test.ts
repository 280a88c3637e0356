import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { loggerOptions } from '../src/logger.js';
import { createServices } from '../src/services/create-services.js';
import { temporaryDir } from './support/test-app.js';

/** A logger configured as the service configures its own, writing JSON lines into an array. */
function recordingLogger() {
  const raw: string[] = [];
  const lines: Array<Record<string, any>> = [];
  const logger = pino(loggerOptions('info', false), {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, any>);
    },
  });
  return { logger, lines, raw };
}

describe('logs', () => {
  it('never carry API keys or Authorization headers', () => {
    const { logger, lines } = recordingLogger();
    logger.info({ apiKey: 'nvapi-secret', nim: { apiKey: 'nvapi-secret' }, req: { headers: { authorization: 'Bearer key-123' } } }, 'configured');
    assert.doesNotMatch(JSON.stringify(lines), /nvapi-secret|key-123/);
    assert.equal(lines[0]?.apiKey, '[redacted]');
    assert.equal(lines[0]?.req.headers.authorization, '[redacted]');
  });

  it('carry the request id on every line written while serving a request, the services\' lines included', async () => {
    const dataDir = await temporaryDir();
    const { logger, lines, raw } = recordingLogger();
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    const services = await createServices(config, logger);
    const app = await buildApp({ config, services, logger });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: { 'x-request-id': 'req-77' },
        payload: { documents: [{ id: 'a', text: 'Italy is famous for pasta.' }] },
      });
      assert.equal(response.statusCode, 201);
      const during = lines.filter((line) => line.reqId === 'req-77').map((line) => line.msg);
      assert.deepEqual(during, ['incoming request', 'collection opened', 'collection created', 'documents ingested', 'request completed']);
      assert.ok(raw.every((line) => (line.match(/"reqId"/g) ?? []).length <= 1), 'Fastify\'s own request lines do not get it twice');
      assert.ok(lines.every((line) => !('trace_id' in line) && !('span_id' in line)), 'no trace without tracing (test/telemetry has it on)');
    } finally {
      await app.close();
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('carry it too when the body arrives in several packets, over a real connection', async () => {
    const dataDir = await temporaryDir();
    const { logger, lines } = recordingLogger();
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    const services = await createServices(config, logger);
    const app = await buildApp({ config, services, logger });
    try {
      const url = new URL('/v1/documents', await app.listen({ port: 0, host: '127.0.0.1' }));
      const body = JSON.stringify({ documents: [{ id: 'a', text: 'Italy is famous for pasta.' }] });
      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': 'req-88' } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
        request.write(body.slice(0, 20));
        setTimeout(() => request.end(body.slice(20)), 50);
      });
      assert.equal(status, 201);
      assert.ok(lines.some((line) => line.msg === 'documents ingested' && line.reqId === 'req-88'), 'the service\'s line carries the request id');
    } finally {
      await app.close();
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
