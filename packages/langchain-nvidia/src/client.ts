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
  /** Longest a stream may run from its request to its last byte; 0 (the default): no limit. */
  streamTimeoutMs?: number;
  /**
   * Slowest a stream may deliver, in bytes a second, over each `timeoutMs` window after its headers:
   * a NIM that drips a byte now and then would otherwise hold the stream and its slot forever. 0 (the default): no floor.
   */
  streamMinBytesPerSecond?: number;
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

type ResolvedOptions = { [K in keyof NVIDIAClientOptions]-?: Exclude<NVIDIAClientOptions[K], undefined> };

export interface AttemptReport {
  /** The path under the base URL, such as /embeddings, or the full URL of an endpoint elsewhere. */
  endpoint: string;
  model: string;
  /** The HTTP status, `bad-body` for a 2xx whose body was cut or unreadable, or `timeout`, `network` or `cancelled` when no response came. */
  status: string;
  seconds: number;
}

export interface CallOptions {
  model: string;
  signal?: AbortSignal | undefined;
  /**
   * Waits for a concurrency slot ahead of calls with a lower one: a question's embedding, which a
   * person waits for, goes before the batches of a bulk ingest queued at the same NIM.
   */
  priority?: number | undefined;
  /**
   * The call changes nothing at the NIM (embeddings, model lists), so it is sent again after ANY
   * transport failure, a body cut short or one `read` refuses included, not only before the headers.
   */
  idempotent?: boolean;
}

export interface JsonCallOptions<T> extends CallOptions {
  /** Checks the parsed body and gives the value; throws an NVIDIAError (a bad response) when it is not what it claims. */
  read?: (body: unknown) => T;
}

/** Why this client itself stopped an attempt: no answer in time, past the stream's deadline, or a stream too slow. */
class AttemptTimeout extends Error {}

/** How long a model stays "not answering" for readiness after its last timeout or unreachable failure, with no success since. */
const UNRESPONSIVE_FOR_MS = 60_000;

interface Sent {
  response: Dispatcher.ResponseData;
  controller: AbortController;
  release: () => void;
  armTimer: () => void;
  clearTimer: () => void;
  /** Which attempt got this response (0 for the first). */
  attempt: number;
}

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
  private readonly options: ResolvedOptions;
  private readonly slots: Semaphore;
  private readonly connections = new Agent();
  /** The last failure that said a model itself is unusable, per model; cleared by a success. */
  private readonly modelFailures = new Map<string, NVIDIAError>();
  /** The last timeout or unreachable failure per model, and when; cleared by a success. */
  private readonly silences = new Map<string, { failure: NVIDIAError; at: number }>();

  constructor(options: NVIDIAClientOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    this.options = {
      apiKey: '',
      timeoutMs: 60_000,
      maxRetries: 2,
      maxConcurrency: UNBOUNDED,
      pace: async () => undefined,
      logger: processWarnings,
      retryBaseDelayMs: 250,
      retryMaxDelayMs: 30_000,
      streamTimeoutMs: 0,
      streamMinBytesPerSecond: 0,
      onAttempt: () => undefined,
      ...given,
      baseUrl: options.baseUrl,
    };
    this.baseUrl = options.baseUrl;
    this.slots = new Semaphore(this.options.maxConcurrency);
  }

  /** The last failure that said this model is unusable, until a call to it succeeds. */
  modelFailure(model: string): NVIDIAError | undefined {
    return this.modelFailures.get(model);
  }

  /**
   * The failure that says the NIM has stopped answering for a model (its last call timed out or
   * could not connect, recently, and none succeeded since), for readiness without probing per call.
   */
  silence(model: string, now = Date.now()): NVIDIAError | undefined {
    const silence = this.silences.get(model);
    return silence && now - silence.at < UNRESPONSIVE_FOR_MS ? silence.failure : undefined;
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    await this.connections.close();
  }

  async getJson<T>(path: string, call: JsonCallOptions<T>): Promise<T> {
    return this.json<T>('GET', path, undefined, { idempotent: true, ...call });
  }

  async postJson<T>(path: string, body: unknown, call: JsonCallOptions<T>): Promise<T> {
    return this.json<T>('POST', path, body, call);
  }

  /**
   * POSTs and yields the response body as text pieces while it streams. The concurrency slot is
   * held until the stream ends or the consumer stops. It fails on an idle gap longer than the
   * timeout, on a window of `timeoutMs` that brought fewer bytes than the minimum rate, and past
   * the stream's overall deadline; a reply that is not an event stream is a bad response.
   */
  async *postStream(path: string, body: unknown, call: CallOptions): AsyncGenerator<string> {
    const started = performance.now();
    const { response, controller, release, armTimer, clearTimer } = await this.send('POST', path, body, call, true, 0);
    const watch = this.watchStream(controller, started);
    const decoder = new TextDecoder();
    try {
      const contentType = String(response.headers['content-type'] ?? '');
      if (!/event-stream/i.test(contentType)) {
        const text = await response.body.text();
        throw this.badResponse(call, `expected an event stream, got ${contentType || 'no content type'}: ${text.slice(0, 200) || '(empty body)'}`);
      }
      for await (const piece of response.body) {
        clearTimer();
        watch.received((piece as Uint8Array).byteLength);
        yield decoder.decode(piece as Uint8Array, { stream: true });
        armTimer();
      }
      const rest = decoder.decode();
      if (rest) yield rest;
      this.succeeded(call.model);
    } catch (error) {
      throw this.noteFailure(this.translateTransportError(error, controller, call), call.model);
    } finally {
      watch.stop();
      clearTimer();
      response.body.destroy();
      release();
    }
  }

  /** The stream's overall deadline and its minimum progress per window; either aborts the attempt with a reason. */
  private watchStream(controller: AbortController, started: number) {
    const { streamTimeoutMs, streamMinBytesPerSecond, timeoutMs } = this.options;
    const timers: NodeJS.Timeout[] = [];
    if (streamTimeoutMs > 0) {
      const left = Math.max(0, streamTimeoutMs - (performance.now() - started));
      timers.push(
        setTimeout(() => controller.abort(new AttemptTimeout(`the stream did not finish within ${streamTimeoutMs} ms (streamTimeoutMs)`)), left),
      );
    }
    let windowBytes = 0;
    if (streamMinBytesPerSecond > 0) {
      const floor = (streamMinBytesPerSecond * timeoutMs) / 1000;
      const check = setInterval(() => {
        if (windowBytes < floor) {
          const rate = Math.round((windowBytes * 1000) / timeoutMs);
          controller.abort(
            new AttemptTimeout(
              `the stream delivered ${rate} bytes/s over the last ${timeoutMs} ms, below streamMinBytesPerSecond (${streamMinBytesPerSecond})`,
            ),
          );
        }
        windowBytes = 0;
      }, timeoutMs);
      timers.push(check);
    }
    return {
      received: (bytes: number) => {
        windowBytes += bytes;
      },
      stop: () => timers.forEach((timer) => clearTimeout(timer)),
    };
  }

  /**
   * One JSON call: the response is read whole, parsed and checked by `read`. An idempotent call
   * whose body was cut, unparsable or refused by `read` is sent again, sharing the retry budget
   * with the failures before the headers.
   */
  private async json<T>(method: string, path: string, body: unknown, call: JsonCallOptions<T>): Promise<T> {
    const url = this.urlOf(path);
    for (let attempt = 0; ; attempt++) {
      const sent = await this.send(method, path, body, call, false, attempt);
      attempt = sent.attempt;
      let value: T;
      try {
        value = await this.readJson(sent, call);
      } catch (error) {
        if (!(error instanceof NVIDIAError)) throw error;
        this.options.onAttempt({ endpoint: path, model: call.model, status: 'bad-body', seconds: 0 });
        if (!call.idempotent || attempt >= this.options.maxRetries) throw this.noteFailure(error, call.model);
        await this.backoff(attempt, undefined, url, error.nimMessage || error.kind, call.signal);
        continue;
      }
      this.succeeded(call.model);
      return value;
    }
  }

  private async readJson<T>(sent: Sent, call: JsonCallOptions<T>): Promise<T> {
    let text: string;
    try {
      text = await sent.response.body.text();
    } catch (error) {
      throw this.translateTransportError(error, sent.controller, call);
    } finally {
      // The NIM's part ends with the last byte: parsing a megabyte of vectors needs no slot there.
      sent.clearTimer();
      sent.release();
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      const contentType = String(sent.response.headers['content-type'] ?? 'no content type');
      throw this.badResponse(call, `body (${contentType}) is not JSON: ${text.slice(0, 200) || '(empty body)'}`);
    }
    return call.read ? call.read(parsed) : (parsed as T);
  }

  /**
   * Sends with retries, counting from `firstAttempt`, until a 2xx arrives; the caller owns the slot
   * and timer it gets back, and learns which attempt it was.
   */
  private async send(method: string, path: string, body: unknown, call: CallOptions, streaming: boolean, firstAttempt: number): Promise<Sent> {
    const url = this.urlOf(path);
    const { maxRetries } = this.options;
    for (let attempt = firstAttempt; ; attempt++) {
      call.signal?.throwIfAborted();
      await this.options.pace();
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
        timer = setTimeout(() => controller.abort(new AttemptTimeout()), this.options.timeoutMs);
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
        this.options.onAttempt({ endpoint: path, model: call.model, status, seconds: (performance.now() - sentAt) / 1000 });
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
        // A caller that went away, or a sibling batch whose failure cancelled this one: not the NIM failing, nothing to retry.
        if (call.signal?.aborted) {
          report('cancelled');
          throw call.signal.reason;
        }
        const failure = this.translateTransportError(error, controller, call) as NVIDIAError;
        report(failure.kind === 'timeout' ? 'timeout' : 'network');
        if (attempt >= maxRetries) throw this.noteFailure(failure, call.model);
        await this.backoff(attempt, undefined, url, failure.kind, call.signal);
        continue;
      }

      report(String(response.statusCode));
      if (response.statusCode >= 200 && response.statusCode < 300) return { response, controller, release: done, armTimer, clearTimer, attempt };

      const errorBody = await response.body.text().catch(() => '');
      done();
      const retryAfterHeader = response.headers['retry-after'];
      const retryAfter = parseRetryAfter(Array.isArray(retryAfterHeader) ? (retryAfterHeader[0] ?? null) : (retryAfterHeader ?? null));
      const failure = classifyHttpFailure({
        status: response.statusCode,
        body: errorBody,
        model: call.model,
        url,
        retryAfterSeconds: retryAfter,
      });
      const waitTooLong = retryAfter !== undefined && retryAfter * 1000 > this.options.retryMaxDelayMs;
      if (!RETRYABLE.has(response.statusCode) || attempt >= maxRetries || waitTooLong) {
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
    const exponential = this.options.retryBaseDelayMs * 2 ** attempt;
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    const delayMs = Math.min(
      this.options.retryMaxDelayMs,
      retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : jittered,
    );
    this.options.logger.warn({ url, reason, attempt: attempt + 1, delayMs: Math.round(delayMs) }, 'retrying NIM request');
    // The caller's own reason, as everywhere else, rather than the timer's generic AbortError.
    await sleep(delayMs, undefined, { signal }).catch((error: unknown) => {
      throw signal?.aborted ? signal.reason : error;
    });
  }

  private headers(hasBody: boolean, streaming: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: streaming ? 'text/event-stream' : 'application/json' };
    if (hasBody) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  private succeeded(model: string): void {
    this.modelFailures.delete(model);
    this.silences.delete(model);
  }

  /** Remembers a timeout or an unreachable NIM for readiness; returns what it was given. */
  private noteFailure(error: unknown, model: string): unknown {
    if (error instanceof NVIDIAError && (error.kind === 'timeout' || error.kind === 'unreachable')) {
      this.silences.set(model, { failure: error, at: Date.now() });
    }
    return error;
  }

  /** `path` is under the base URL (`/models`), or a full URL for an endpoint the catalog serves elsewhere. */
  private urlOf(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.baseUrl}${path}`;
  }

  badResponse(call: { model: string }, message: string): NVIDIAError {
    return new NVIDIAError({ kind: 'bad-response', model: call.model, url: this.baseUrl, nimMessage: message });
  }

  /** A caller's abort passes through untouched; timeouts and network failures become NVIDIAErrors. */
  private translateTransportError(error: unknown, controller: AbortController, call: CallOptions): unknown {
    if (error instanceof NVIDIAError) return error;
    if (call.signal?.aborted) return call.signal.reason;
    const reason: unknown = controller.signal.reason;
    if (reason instanceof AttemptTimeout) {
      const detail = reason.message
        ? `the NIM at ${this.baseUrl} was too slow for model ${call.model}: ${reason.message}`
        : undefined;
      return new NVIDIAError({ kind: 'timeout', model: call.model, url: this.baseUrl, nimMessage: reason.message, message: detail, cause: error });
    }
    const failure = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const nimMessage = failure.cause?.code ?? failure.code ?? failure.message ?? String(error);
    return new NVIDIAError({ kind: 'unreachable', model: call.model, url: this.baseUrl, nimMessage, cause: error });
  }
}
