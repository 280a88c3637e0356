import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, it } from 'node:test';
import { killAll, startServer } from '../support/child-server.js';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { EXAMPLE_DOCUMENTS, temporaryDir, unusedPort } from '../support/test-app.js';

interface Export {
  path: string;
  contentType: string | undefined;
  body: Buffer;
}

after(killAll);

it('the process traces when OTEL_EXPORTER_OTLP_ENDPOINT is set: OTLP/HTTP protobuf to the collector, flushed on SIGTERM, with the OTEL_* variables the SDK reads', async () => {
  const exports: Export[] = [];
  const collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      exports.push({ path: request.url ?? '', contentType: request.headers['content-type'], body: Buffer.concat(chunks) });
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const nim = await NimEmulator.start({ models: [EMBED_MODEL, LLM_MODEL] });
  const dataDir = await temporaryDir();
  try {
    const server = await startServer(dataDir, await unusedPort(), {
      EMBEDDINGS_PROVIDER: 'nim',
      LLM_PROVIDER: 'nim',
      NIM_EMBEDDINGS_URL: nim.url,
      NIM_LLM_URL: nim.url,
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_SERVICE_NAME: 'rag-under-test',
    });
    const post = (path: string, body: unknown) =>
      fetch(`${server.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/v1/documents', { documents: EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `doc${index}`, text })) })).status, 201);
    assert.equal((await post('/v1/ask', { question: EXAMPLE_DOCUMENTS[1], k: 2 })).status, 200);

    const [chat] = nim.requestsTo('/v1/chat/completions');
    const traceId = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(String(chat?.headers.traceparent))?.[1];
    assert.ok(traceId, `the chat NIM got a traceparent: ${String(chat?.headers.traceparent)}`);

    const exited = once(server.process, 'exit');
    server.process.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
    const traces = exports.filter((sent) => sent.path === '/v1/traces');
    assert.ok(traces.length > 0, `spans were sent to /v1/traces: ${exports.map((sent) => sent.path).join(', ')}`);
    assert.ok(traces.every((sent) => sent.contentType === 'application/x-protobuf'));
    assert.deepEqual(new Set(exports.map((sent) => sent.path)), new Set(['/v1/traces']), 'traces only, no metrics or logs');
    // Protobuf keeps a trace id as its 16 bytes and a string as its UTF-8 bytes.
    const sent = Buffer.concat(traces.map((trace) => trace.body));
    assert.ok(sent.includes(Buffer.from(traceId, 'hex')), 'the exported spans hold the trace the NIM was told of');
    assert.ok(sent.includes(Buffer.from('rag-under-test')), 'OTEL_SERVICE_NAME names the service');
    assert.ok(sent.includes(Buffer.from('rag.generate')));

    const lines = server.output.join('').split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(lines.some((line) => line.trace_id === traceId && line.msg === 'request completed'), 'the ask\'s log line carries its trace id');
  } finally {
    await nim.stop();
    collector.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
