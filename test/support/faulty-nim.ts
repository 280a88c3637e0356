import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A fault-injecting proxy in front of a NIM (the emulator): it forwards every request, and for the
 * faults a test queues, it breaks the answer the way real model servers and the networks in front
 * of them do. Everything not faulted passes through untouched, so the emulator stays the one
 * faithful NIM and this stays the one place where NIMs misbehave.
 */
export type Fault =
  /** The connection is dropped before any response (a crashed worker, a reset by a proxy). */
  | { kind: 'reset-before-headers' }
  /** 200 and the first part of the real body, then the connection is dropped. */
  | { kind: 'reset-after-headers' }
  /** The real body cut in half, ended cleanly: a truncated JSON document (or SSE stream) with 200. */
  | { kind: 'truncate' }
  /** A body of the fault's choosing with 200 (HTML, text, empty, malformed JSON). */
  | { kind: 'body'; contentType: string; body: string; status?: number }
  /** The real JSON body rewritten; the rewrite returns raw text, so it can carry what JSON.stringify cannot (1e400). */
  | { kind: 'rewrite'; rewrite: (body: any) => string }
  /** An HTTP error status, optionally with Retry-After. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  /** Never answers. */
  | { kind: 'hang' }
  /** The real response, one byte every `intervalMs`. */
  | { kind: 'drip'; intervalMs: number }
  /** The first `events` SSE events of the real stream, then a clean end without `data: [DONE]`. */
  | { kind: 'cut-stream'; events: number }
  /** The first `events` SSE events, then an error object inside the stream, as NIMs send one. */
  | { kind: 'stream-error'; events: number; message: string };

interface Queued {
  path: string;
  fault: Fault;
  remaining: number;
}

/**
 * A vector as numbers, whether the NIM sent JSON floats or base64 float32s (what the service asks
 * for); a broken vector goes back as a JSON array, which a client asking for base64 reads too.
 */
function numbers(embedding: number[] | string): number[] {
  if (typeof embedding !== 'string') return embedding;
  const bytes = Buffer.from(embedding, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, at) => bytes.readFloatLE(at * 4));
}

/** Rewrites for embeddings responses, named by what they break. */
export const embeddingRewrites = {
  /** One item fewer than inputs. */
  wrongCount: (body: any) => JSON.stringify({ ...body, data: body.data.slice(1) }),
  /** The vector at `position` shrunk to `size` numbers. */
  wrongDimension:
    (position: number, size: number) =>
    (body: any) =>
      JSON.stringify({ ...body, data: body.data.map((item: any, at: number) => (at === position ? { ...item, embedding: numbers(item.embedding).slice(0, size) } : item)) }),
  /** Every vector shrunk to `size` numbers: consistent, but not the size the store holds. */
  allWrongDimension: (size: number) => (body: any) =>
    JSON.stringify({ ...body, data: body.data.map((item: any) => ({ ...item, embedding: numbers(item.embedding).slice(0, size) })) }),
  /** The raw text `value` (NaN, 1e400, null, "0.5") put at the first number of the vector at `position`. */
  badNumber:
    (position: number, value: string) =>
    (body: any) => {
      const marker = '"__fault__"';
      const data = body.data.map((item: any, at: number) => (at === position ? { ...item, embedding: ['__fault__', ...numbers(item.embedding).slice(1)] } : item));
      return JSON.stringify({ ...body, data }).replace(marker, value);
    },
  /** Every number of the vector at `position` replaced by null (a NIM's all-null vector). */
  allNull:
    (position: number) =>
    (body: any) =>
      JSON.stringify({ ...body, data: body.data.map((item: any, at: number) => (at === position ? { ...item, embedding: numbers(item.embedding).map(() => null) } : item)) }),
  /** The vector at `position` all zeros. */
  zeroVector:
    (position: number) =>
    (body: any) =>
      JSON.stringify({ ...body, data: body.data.map((item: any, at: number) => (at === position ? { ...item, embedding: numbers(item.embedding).map(() => 0) } : item)) }),
  /** The item at `position` given `index` (out of range, negative, a duplicate). */
  badIndex:
    (position: number, index: unknown) =>
    (body: any) =>
      JSON.stringify({ ...body, data: body.data.map((item: any, at: number) => (at === position ? { ...item, index } : item)) }),
};

export class FaultyNim {
  /** Requests per path that reached the proxy, faulted or not. */
  readonly seen = new Map<string, number>();
  private readonly queue: Queued[] = [];
  private readonly held = new Set<ServerResponse>();
  private server!: Server;
  private port = 0;
  private upstream!: URL;

  private constructor() {}

  /** A proxy in front of `upstreamOrigin` (an emulator's origin, without /v1). */
  static async start(upstreamOrigin: string): Promise<FaultyNim> {
    const proxy = new FaultyNim();
    proxy.upstream = new URL(upstreamOrigin);
    proxy.server = createServer((request, response) => {
      proxy.handle(request, response).catch(() => response.destroy());
    });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Breaks the next `times` requests to `path` (e.g. /v1/embeddings) with `fault`; Infinity for every one. */
  inject(path: string, fault: Fault, times = 1): void {
    this.queue.push({ path, fault, remaining: times });
  }

  /** Removes queued faults and forgets the counts. */
  clear(): void {
    this.queue.length = 0;
    this.seen.clear();
  }

  requestsTo(path: string): number {
    return this.seen.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    for (const response of this.held) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private take(path: string): Fault | undefined {
    const position = this.queue.findIndex((queued) => queued.path === path);
    if (position < 0) return undefined;
    const queued = this.queue[position] as Queued;
    queued.remaining -= 1;
    if (queued.remaining <= 0) this.queue.splice(position, 1);
    return queued.fault;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] as string;
    this.seen.set(path, (this.seen.get(path) ?? 0) + 1);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const fault = this.take(path);
    if (fault?.kind === 'reset-before-headers') return void response.socket?.destroy();
    if (fault?.kind === 'hang') {
      this.held.add(response);
      response.on('close', () => this.held.delete(response));
      return;
    }
    if (fault?.kind === 'status') {
      response.writeHead(fault.status, {
        'content-type': 'application/json',
        ...(fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter }),
      });
      return void response.end(fault.body ?? JSON.stringify({ error: `injected ${fault.status}` }));
    }
    if (fault?.kind === 'body') {
      response.writeHead(fault.status ?? 200, { 'content-type': fault.contentType });
      return void response.end(fault.body);
    }

    const upstream = await this.forward(request, body);
    const headers = { ...upstream.headers };
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    const text = upstream.body.toString('utf8');
    switch (fault?.kind) {
      case undefined:
        response.writeHead(upstream.status, headers);
        return void response.end(upstream.body);
      case 'reset-after-headers':
        response.writeHead(upstream.status, headers);
        response.write(upstream.body.subarray(0, Math.max(1, Math.floor(upstream.body.length / 3))));
        await sleep(20);
        return void response.socket?.destroy();
      case 'truncate':
        response.writeHead(upstream.status, headers);
        return void response.end(upstream.body.subarray(0, Math.floor(upstream.body.length / 2)));
      case 'rewrite':
        response.writeHead(upstream.status, headers);
        return void response.end(fault.rewrite(JSON.parse(text)));
      case 'drip': {
        response.writeHead(upstream.status, headers);
        this.held.add(response);
        response.on('close', () => this.held.delete(response));
        for (const byte of upstream.body) {
          if (response.destroyed) return;
          response.write(Buffer.from([byte]));
          await sleep(fault.intervalMs);
        }
        return void response.end();
      }
      case 'cut-stream':
      case 'stream-error': {
        const events = text.split('\n\n').filter((event) => event.trim() && !event.includes('[DONE]'));
        response.writeHead(upstream.status, headers);
        const kept = events.slice(0, fault.events).map((event) => `${event}\n\n`).join('');
        const error =
          fault.kind === 'stream-error'
            ? `data: ${JSON.stringify({ error: { object: 'error', type: 'internal_server_error', message: fault.message } })}\n\n`
            : '';
        return void response.end(kept + error);
      }
    }
  }

  private forward(request: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          host: this.upstream.hostname,
          port: this.upstream.port,
          path: request.url,
          method: request.method,
          headers: { ...request.headers, host: this.upstream.host },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () => resolve({ status: incoming.statusCode ?? 502, headers: incoming.headers, body: Buffer.concat(chunks) }));
          incoming.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}
