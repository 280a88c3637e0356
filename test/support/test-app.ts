import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createServices, type Services } from '../../src/services/create-services.js';
import type { DocumentStore } from '../../src/store/store-contract.js';
import { responseViolation } from './contract.js';

export const silentLogger = pino({ level: 'silent' });

/** Collections, documents and chunks in the whole store. */
export async function storeTotals(store: DocumentStore): Promise<{ collections: number; documents: number; chunks: number }> {
  const summaries = await store.list();
  return {
    collections: summaries.length,
    documents: summaries.reduce((sum, summary) => sum + summary.documents, 0),
    chunks: summaries.reduce((sum, summary) => sum + summary.chunks, 0),
  };
}

export async function temporaryDir(prefix = 'rag-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  config: Config;
  dataDir: string;
  /** Closes the app and the store; keeps DATA_DIR so a test can open it again. */
  stop(): Promise<void>;
  /** Stops and removes DATA_DIR. */
  close(): Promise<void>;
  /** Responses so far that do not conform to openapi.yaml; stop() fails when there are any. */
  violations: string[];
}

/** The real app, built from an environment as the process would read it, over a fresh (or given) DATA_DIR. */
export async function startTestApp(env: Record<string, string> = {}, dataDir?: string, logger: Logger = silentLogger): Promise<TestApp> {
  const dir = dataDir ?? (await temporaryDir());
  // The suites written for vector search (cosine scores, their min_score) pin it; the retrieval-mode suites set the mode per request.
  const config = loadConfig({ LOG_LEVEL: 'silent', RETRIEVAL_MODE: 'vector', ...env, DATA_DIR: dir });
  const services = await createServices(config, logger);
  const app = await buildApp({ config, services, logger });
  const violations: string[] = [];
  app.addHook('onSend', async (request, reply, payload) => {
    if (typeof payload === 'string' || payload === null || payload === undefined) {
      const contentType = reply.getHeader('content-type');
      const violation = responseViolation({
        method: request.method,
        route: request.routeOptions.url,
        status: reply.statusCode,
        contentType: typeof contentType === 'string' ? contentType : undefined,
        body: payload ?? '',
      });
      if (violation) violations.push(violation);
    }
    return payload;
  });
  await app.ready();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
    await services.close();
    assert.deepEqual(violations, [], 'every response conforms to openapi.yaml');
  };
  return {
    app,
    services,
    config,
    dataDir: dir,
    violations,
    stop,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// The page's examples are the tests' too: one copy of the LangChain NVIDIA example's texts.
export { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES } from '../../web/examples.js';

/** A loopback port nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A pino logger whose JSON lines are kept for assertions. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, any>) });
  return { logger, lines };
}
