import { setTimeout as sleep } from 'node:timers/promises';
import { Semaphore } from 'async-mutex';
import { Agent, type Dispatcher, request } from 'undici';
import { classifyHttpFailure, NVIDIAError } from './errors.js';
import { type NVIDIALogger, processWarnings } from './logger.js';

export interface NVIDIAClientOptions {
  /** Normalised base URL ending in /v1. */
  baseUrl: string;
  apiKey?: string | undefined;
  /** Per attempt: until the whole JSON reply arrives, or between two pieces of a stream. Default 60 s. */
  timeoutMs?: number | undefined;
  /** Retries after the first attempt, on 408/429/5xx and network failures. Default 2. */
  maxRetries?: number | undefined;
  /** Requests in flight at once through this client; a stream holds its place until it ends. Default unbounded. */
  maxConcurrency?: number | undefined;
  /** Resolves when the next request may go out, for pacing shared by every client of one API key. */
  pace?: (() => Promise<void>) | undefined;
  logger?: NVIDIALogger | undefined;
  retryBaseDelayMs?: number | undefined;
  /** A Retry-After longer than this is not waited out: the caller gets the rate-limit error at once. */
  retryMaxDelayMs?: number | undefined;
  /** Told about every attempt, for metrics: its HTTP status (or why it has none) and time to the response headers. */
  onAttempt?: ((attempt: AttemptReport) => void) | undefined;
}

export interface AttemptReport {
  /** The path under the base URL, such as /embeddings, or the full URL of an endpoint elsewhere. */
  endpoint: string;
  model: string;
  /** The HTTP status, or `timeout`, `network` or `cancelled` when no response came. */
  status: string;
  seconds: number;
}

export interface CallOptions {
  model: string;
  signal?: AbortSignal | undefined;
  /** Waits for a concurrency slot ahead of calls with a lower one (a person's query before a bulk ingest). */
  priority?: number | undefined;
}

class AttemptTimeout extends Error {}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const UNBOUNDED = 1_000_000;

/** Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/**
 * The one HTTP path to a NIM: auth header, pacing, bounded concurrency, per-attempt timeouts, and
 * retries with exponential backoff and jitter on 408/429/5xx and network failures, honouring
 * Retry-After. Other 4xx are final. Every failure leaves as an NVIDIAError. Requests go through
 * undici's request API over kept-alive connections: a quarter of the time and CPU of fetch per call.
 * One client can be shared by several models so that they share connections and limits.
 */
export class NVIDIAClient {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly pace: () => Promise<void>;
  private readonly logger: NVIDIALogger;
  private readonly onAttempt: (attempt: AttemptReport) => void;
  private readonly slots: Semaphore;
  private readonly connections = new Agent();
  /** The last failure that said a model itself is unusable, per model; cleared by a success. */
  private readonly modelFailures = new Map<string, NVIDIAError>();

  constructor(options: NVIDIAClientOptions) {
    this.baseUrl = options.baseUrl;
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 250;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 30_000;
    this.pace = options.pace ?? (async () => undefined);
    this.logger = options.logger ?? processWarnings;
    this.onAttempt = options.onAttempt ?? (() => undefined);
    this.slots = new Semaphore(options.maxConcurrency ?? UNBOUNDED);
  }

  /** The last failure that said this model is unusable, until a call to it succeeds. */
  modelFailure(model: string): NVIDIAError | undefined {
    return this.modelFailures.get(model);
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    await this.connections.close();
  }

  /** `path` is under the base URL (`/models`), or a full URL for an endpoint the catalog serves elsewhere. */
  async getJson<T>(path: string, call: CallOptions): Promise<T> {
    return this.json<T>('GET', path, undefined, call);
  }

  async postJson<T>(path: string, body: unknown, call: CallOptions): Promise<T> {
    return this.json<T>('POST', path, body, call);
  }

  /**
   * POSTs and yields the response body as text pieces while it streams. The concurrency slot is
   * held until the stream ends or the consumer stops; an idle gap longer than the timeout fails it.
   */
  async *postStream(path: string, body: unknown, call: CallOptions): AsyncGenerator<string> {
    const { response, controller, release, armTimer, clearTimer } = await this.send('POST', path, body, call, true);
    const decoder = new TextDecoder();
    try {
      for await (const piece of response.body) {
        clearTimer();
        yield decoder.decode(piece as Uint8Array, { stream: true });
        armTimer();
      }
      const rest = decoder.decode();
      if (rest) yield rest;
      this.modelFailures.delete(call.model);
    } catch (error) {
      throw this.translateTransportError(error, controller, call);
    } finally {
      clearTimer();
      response.body.destroy();
      release();
    }
  }

  private urlOf(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.baseUrl}${path}`;
  }

  private async json<T>(method: string, path: string, body: unknown, call: CallOptions): Promise<T> {
    const { response, controller, release, clearTimer } = await this.send(method, path, body, call, false);
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw this.translateTransportError(error, controller, call);
    } finally {
      // The NIM's part ends with the last byte: parsing a megabyte of vectors needs no slot there.
      clearTimer();
      release();
    }
    this.modelFailures.delete(call.model);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.badResponse(call, `body is not JSON: ${text.slice(0, 200)}`);
    }
  }

  /** Sends with retries until a 2xx arrives; the caller owns the slot and timer it gets back. */
  private async send(method: string, path: string, body: unknown, call: CallOptions, streaming: boolean) {
    const url = this.urlOf(path);
    for (let attempt = 0; ; attempt++) {
      call.signal?.throwIfAborted();
      await this.pace();
      const [, release] = await this.slots.acquire(1, call.priority ?? 0);
      // The caller may have gone while this call waited for its turn: then it is not sent at all.
      if (call.signal?.aborted) {
        release();
        call.signal.throwIfAborted();
      }
      const controller = new AbortController();
      const abortFromCaller = () => controller.abort(call.signal?.reason);
      call.signal?.addEventListener('abort', abortFromCaller, { once: true });
      let timer: NodeJS.Timeout | undefined;
      const clearTimer = () => clearTimeout(timer);
      const armTimer = () => {
        clearTimer();
        timer = setTimeout(() => controller.abort(new AttemptTimeout()), this.timeoutMs);
      };
      const done = () => {
        clearTimer();
        call.signal?.removeEventListener('abort', abortFromCaller);
        release();
      };
      armTimer();

      let response: Dispatcher.ResponseData;
      const sentAt = performance.now();
      const report = (status: string) =>
        this.onAttempt({ endpoint: path, model: call.model, status, seconds: (performance.now() - sentAt) / 1000 });
      try {
        response = await request(url, {
          method,
          headers: this.headers(body !== undefined, streaming),
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: controller.signal,
          dispatcher: this.connections,
        });
      } catch (error) {
        done();
        // A caller that went away, or a sibling batch whose failure cancelled this one: nothing to retry.
        if (call.signal?.aborted) {
          report('cancelled');
          throw call.signal.reason;
        }
        const failure = this.translateTransportError(error, controller, call) as NVIDIAError;
        report(failure.kind === 'timeout' ? 'timeout' : 'network');
        if (attempt >= this.maxRetries) throw failure;
        await this.backoff(attempt, undefined, url, failure.kind, call.signal);
        continue;
      }

      report(String(response.statusCode));
      if (response.statusCode >= 200 && response.statusCode < 300) return { response, controller, release: done, armTimer, clearTimer };

      const errorBody = await response.body.text().catch(() => '');
      done();
      const retryAfterHeader = response.headers['retry-after'];
      const retryAfter = parseRetryAfter(Array.isArray(retryAfterHeader) ? (retryAfterHeader[0] ?? null) : (retryAfterHeader ?? null));
      const failure = classifyHttpFailure({
        status: response.statusCode,
        body: errorBody,
        model: call.model,
        url: path === url ? url : this.baseUrl,
        retryAfterSeconds: retryAfter,
      });
      const waitTooLong = retryAfter !== undefined && retryAfter * 1000 > this.retryMaxDelayMs;
      if (!RETRYABLE.has(response.statusCode) || attempt >= this.maxRetries || waitTooLong) {
        if (failure.concernsModel) this.modelFailures.set(call.model, failure);
        throw failure;
      }
      await this.backoff(attempt, retryAfter, url, `HTTP ${response.statusCode}`, call.signal);
    }
  }

  private async backoff(
    attempt: number,
    retryAfterSeconds: number | undefined,
    url: string,
    reason: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const exponential = this.retryBaseDelayMs * 2 ** attempt;
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    const delayMs = Math.min(this.retryMaxDelayMs, retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : jittered);
    this.logger.warn({ url, reason, attempt: attempt + 1, delayMs: Math.round(delayMs) }, 'retrying NIM request');
    // The caller's own reason, as everywhere else, rather than the timer's generic AbortError.
    await sleep(delayMs, undefined, { signal }).catch((error: unknown) => {
      throw signal?.aborted ? signal.reason : error;
    });
  }

  private headers(hasBody: boolean, streaming: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: streaming ? 'text/event-stream' : 'application/json' };
    if (hasBody) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  badResponse(call: { model: string }, message: string): NVIDIAError {
    return new NVIDIAError({ kind: 'bad-response', model: call.model, url: this.baseUrl, nimMessage: message });
  }

  /** A caller's abort passes through untouched; timeouts and network failures become NVIDIAErrors. */
  private translateTransportError(error: unknown, controller: AbortController, call: CallOptions): unknown {
    if (error instanceof NVIDIAError) return error;
    if (call.signal?.aborted) return call.signal.reason;
    if (controller.signal.reason instanceof AttemptTimeout) {
      return new NVIDIAError({ kind: 'timeout', model: call.model, url: this.baseUrl, nimMessage: '', cause: error });
    }
    const failure = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const nimMessage = failure.cause?.code ?? failure.code ?? failure.message ?? String(error);
    return new NVIDIAError({ kind: 'unreachable', model: call.model, url: this.baseUrl, nimMessage, cause: error });
  }
}
