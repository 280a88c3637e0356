import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { startTracing } from '../../src/telemetry/tracing.js';

/*
 * Tracing on, in this process, as src/server.ts starts it: before the service's modules load (the
 * pg driver is patched as it is first required), so every module that reaches the service is
 * imported only after it. Spans go to the SDK's in-memory exporter.
 */
const exporter = new InMemorySpanExporter();
const tracing = await startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const { buildApp } = await import('../../src/app.js');
const { loadConfig } = await import('../../src/config.js');
const { loggerOptions } = await import('../../src/logger.js');
const { createServices } = await import('../../src/services/create-services.js');
const { EMBED_MODEL, LLM_MODEL, NimEmulator } = await import('../support/nim-emulator.js');
const { serviceBackends } = await import('../support/service-backends.js');
const { EXAMPLE_DOCUMENTS, temporaryDir } = await import('../support/test-app.js');

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** The span and each of its ancestors among `spans`, nearest first. */
function ancestry(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const names: string[] = [];
  for (let parent = parentOf(span); parent; ) {
    const found = spans.find((candidate) => candidate.spanContext().spanId === parent);
    if (!found) break;
    names.push(found.name);
    parent = parentOf(found);
  }
  return names;
}

after(() => tracing.shutdown());

for (const backend of serviceBackends()) {
  describe(`traces of /v1/ask with tracing on (${backend.name})`, () => {
    let nim: Awaited<ReturnType<typeof NimEmulator.start>>;
    let app: Awaited<ReturnType<typeof buildApp>>;
    let services: Awaited<ReturnType<typeof createServices>>;
    let dataDir: string;
    const lines: Array<Record<string, any>> = [];

    before(async () => {
      nim = await NimEmulator.start({ models: [EMBED_MODEL, LLM_MODEL] });
      dataDir = await temporaryDir();
      const config = loadConfig({ ...(await backend.prepare()), DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_LLM_URL: nim.url, NIM_MAX_RETRIES: '0' });
      const logger = pino(loggerOptions('info', false), { write: (line: string) => lines.push(JSON.parse(line) as Record<string, any>) });
      services = await createServices(config, logger);
      app = await buildApp({ config, services, logger });
      const ingested = await app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) } });
      assert.equal(ingested.statusCode, 201);
    });
    after(async () => {
      await app.close();
      await services.close();
      await nim.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('makes one trace holding the request, retrieval with its embedding call, and generation with its chat call, whose traceparent the NIM received', async () => {
      exporter.reset();
      nim.reset();
      lines.length = 0;
      const response = await app.inject({ method: 'POST', url: '/v1/ask', headers: { 'x-request-id': 'ask-traced' }, payload: { question: EXAMPLE_DOCUMENTS[0], k: 2 } });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().model, LLM_MODEL);

      const spans = exporter.getFinishedSpans();
      const traces = new Set(spans.map((span) => span.spanContext().traceId));
      assert.equal(traces.size, 1, `one trace, not ${[...traces].join(', ')}`);
      const [traceId] = traces;
      const request = spans.find((span) => span.name === 'POST /v1/ask');
      assert.ok(request, `a request span among ${spans.map((span) => span.name).join(', ')}`);
      assert.equal(parentOf(request), undefined, 'the request span is the root');
      assert.equal(request.attributes['http.response.status_code'], 200);

      const byName = (name: string) => spans.filter((span) => span.name === name);
      const [retrieve] = byName('rag.retrieve');
      const [generate] = byName('rag.generate');
      assert.ok(retrieve && generate);
      assert.ok(ancestry(retrieve, spans).includes('POST /v1/ask'));
      assert.ok(ancestry(generate, spans).includes('POST /v1/ask'));
      assert.equal(retrieve.attributes['rag.sources'], 2);
      assert.equal(generate.attributes['gen_ai.request.model'], LLM_MODEL);

      const nimCall = (path: string) => {
        const calls = spans.filter((span) => String(span.attributes['url.full']).endsWith(path));
        assert.equal(calls.length, 1, `one span for ${path}`);
        return calls[0] as ReadableSpan;
      };
      const embedding = nimCall('/v1/embeddings');
      const chat = nimCall('/v1/chat/completions');
      assert.equal(embedding.attributes['http.request.method'], 'POST');
      assert.equal(embedding.attributes['http.response.status_code'], 200);
      assert.equal(ancestry(embedding, spans)[0], 'rag.retrieve');
      assert.equal(ancestry(chat, spans)[0], 'rag.generate');

      // The NIM received the W3C traceparent of the very span that called it.
      for (const [path, span] of [['/v1/embeddings', embedding], ['/v1/chat/completions', chat]] as const) {
        const sent = nim.requestsTo(path).map((recorded) => TRACEPARENT.exec(String(recorded.headers.traceparent)));
        assert.equal(sent.length, 1);
        assert.deepEqual(sent[0]?.slice(1), [traceId, span.spanContext().spanId], `${path} traceparent`);
      }

      if (backend.name === 'pgvector') {
        const queries = spans.filter((span) => span.attributes['db.system.name'] === 'postgresql' && span.name.startsWith('pg.query'));
        assert.ok(queries.length > 0, 'the store\'s queries are spans');
        assert.ok(queries.every((query) => ancestry(query, spans).includes('POST /v1/ask')));
        assert.ok(queries.some((query) => ancestry(query, spans)[0] === 'rag.retrieve'), 'the nearest-neighbour query is retrieval\'s');
      }

      const logged = lines.filter((line) => line.reqId === 'ask-traced');
      assert.ok(logged.some((line) => line.msg === 'request completed' && line.trace_id === traceId), 'the request\'s log line carries its trace');
      assert.ok(logged.filter((line) => 'trace_id' in line).every((line) => line.trace_id === traceId && /^[0-9a-f]{16}$/.test(line.span_id)));
    });

    it('puts a follow-up\'s rewrite in a rag.condense span of the same trace, around its own chat call', async () => {
      exporter.reset();
      nim.reset();
      const messages = [
        { role: 'user', content: 'Where is pasta famous?' },
        { role: 'assistant', content: 'In Italy.' },
        { role: 'user', content: 'And what else is it known for?' },
      ];
      const response = await app.inject({ method: 'POST', url: '/v1/ask', payload: { messages, k: 2 } });
      assert.equal(response.statusCode, 200);
      const spans = exporter.getFinishedSpans();
      assert.equal(new Set(spans.map((span) => span.spanContext().traceId)).size, 1);
      const [condense] = spans.filter((span) => span.name === 'rag.condense');
      assert.ok(condense, `a rag.condense span among ${spans.map((span) => span.name).join(', ')}`);
      const chats = spans.filter((span) => String(span.attributes['url.full']).endsWith('/v1/chat/completions'));
      assert.deepEqual(chats.map((chat) => ancestry(chat, spans)[0]).sort(), ['rag.condense', 'rag.generate']);
    });
  });
}
