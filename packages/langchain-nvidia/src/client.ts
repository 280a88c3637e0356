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
  /** Retries after the first attempt, on 408/429/5xx and network failures, as LangChain's AsyncCaller counts them. Default 6, as there. */
  maxRetries?: number | undefined;
  /** Requests in flight at once through this client; a stream holds its place until it ends. Default unbounded. */
  maxConcurrency?: number | undefined;
  /**
   * As LangChain's `onFailedAttempt`: called with the NVIDIAError of every failed attempt (a caller's
   * abort is not one); if it throws, nothing more is tried and its error is the call's. It cannot make
   * a failure retryable that the client does not retry (a 4xx other than 408/429).
   */
  onFailedAttempt?: FailedAttemptHandler | undefined;
  logger?: NVIDIALogger | undefined;
  /** The first backoff; each retry doubles it, with jitter. Default 250 ms. */
  retryBaseDelayMs?: number | undefined;
  /** A Retry-After longer than this is not waited out: the caller gets the rate-limit error at once. Default 30 s. */
  retryMaxDelayMs?: number | undefined;
  /**
   * Where the status of a request NVIDIA Cloud Functions accepted with HTTP 202 is polled, `{request_id}`
   * standing for its NVCF-REQID. Default NVCF's, as in the Python package.
   */
  pollingUrl?: string | undefined;
  /** Pause between two polls of an accepted request. Default 20 ms (NVCF holds each poll open until it has news). */
  pollIntervalMs?: number | undefined;
  /** Longest a request may stay accepted-but-pending before the call fails as a timeout. Default `timeoutMs`. */
  pollTimeoutMs?: number | undefined;
  /**
   * Extra headers on every request, such as NVCF's `NVCF-POLL-SECONDS` (how long the catalog holds a
   * request before answering 202). They cannot replace the ones the client sets.
   */
  headers?: Record<string, string> | undefined;
  /** What the application wants to be told or asked around each call: pacing, metrics, health. All optional. */
  hooks?: NVIDIAClientHooks | undefined;
}

/** As in LangChain's AsyncCaller: told each failed attempt's error; throwing stops the retries. */
export type FailedAttemptHandler = (error: NVIDIAError) => unknown;

/**
 * The optional points where an application plugs its own concerns into the client: none of them is
 * needed to call a NIM. A service uses them for a rate limit shared by several clients of one key
 * (`beforeAttempt`), metrics (`onAttempt`), and readiness (`onCallEnd`: which models failed last).
 */
export interface NVIDIAClientHooks {
  /** Awaited before every attempt (retries and 202 polls included); resolve when it may go out. */
  beforeAttempt?: ((attempt: { endpoint: string; model: string }) => Promise<void>) | undefined;
  /** Told about every attempt: its HTTP status (or why it has none) and time to the response headers. */
  onAttempt?: ((attempt: AttemptReport) => void) | undefined;
  /** Told once per call how it ended, after its retries: `error` is unset on success. A caller's abort is not reported. */
  onCallEnd?: ((outcome: CallOutcome) => void) | undefined;
}

export interface CallOutcome {
  endpoint: string;
  model: string;
  error?: NVIDIAError | undefined;
}

type ResolvedOptions = { [K in Exclude<keyof NVIDIAClientOptions, 'apiKey' | 'onFailedAttempt' | 'pollTimeoutMs'>]-?: Exclude<NVIDIAClientOptions[K], undefined> } & {
  onFailedAttempt: FailedAttemptHandler | undefined;
  pollTimeoutMs: number;
};

/** NVCF's status endpoint for accepted requests, as the Python package polls it. */
export const NVCF_POLLING_URL = 'https://api.nvcf.nvidia.com/v2/nvcf/pexec/status/{request_id}';

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
  /** This call's retries, when the model calling has its own (a model sharing a client); default the client's. */
  maxRetries?: number | undefined;
  /** This call's failed-attempt handler, when the model calling has its own; default the client's. */
  onFailedAttempt?: FailedAttemptHandler | undefined;
}

export interface JsonCallOptions<T> extends CallOptions {
  /** Checks the parsed body and gives the value; throws an NVIDIAError (a bad response) when it is not what it claims. */
  read?: (body: unknown) => T;
}

/** Why this client itself stopped an attempt: no answer in time, past the stream's deadline, or a stream too slow. */
class AttemptTimeout extends Error {}

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

const headerOf = (response: Dispatcher.ResponseData, name: string): string | undefined => {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * The one HTTP path to a NIM: auth header, bounded concurrency, per-attempt timeouts, retries with
 * exponential backoff and jitter on 408/429/5xx and network failures, honouring Retry-After, and
 * polling of requests NVIDIA Cloud Functions accepts with HTTP 202. Other 4xx are final. Every
 * failure leaves as an NVIDIAError. Requests go through undici's request API over kept-alive
 * connections: a quarter of the time and CPU of fetch per call. One client can be shared by
 * several models so that they share connections and limits; an application's own concerns
 * (pacing, metrics, health) plug in through `hooks`.
 */
export class NVIDIAClient {
  readonly baseUrl: string;
  /** The key sent as a Bearer token, if any (kept for LangChain serialisation, which writes it as a secret reference). */
  readonly apiKey: string | undefined;
  private readonly options: ResolvedOptions;
  /** None without a limit: async-mutex's release walks every free unit, a million steps a call for an unbounded one. */
  private readonly slots: Semaphore | undefined;
  private readonly connections = new Agent();

  constructor(options: NVIDIAClientOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as NVIDIAClientOptions;
    const timeoutMs = given.timeoutMs ?? 60_000;
    this.options = {
      timeoutMs,
      maxRetries: 6,
      maxConcurrency: UNBOUNDED,
      logger: processWarnings,
      retryBaseDelayMs: 250,
      retryMaxDelayMs: 30_000,
      streamTimeoutMs: 0,
      streamMinBytesPerSecond: 0,
      pollingUrl: NVCF_POLLING_URL,
      pollIntervalMs: 20,
      hooks: {},
      headers: {},
      ...given,
      pollTimeoutMs: given.pollTimeoutMs ?? timeoutMs,
      onFailedAttempt: given.onFailedAttempt,
      baseUrl: options.baseUrl,
    };
    this.baseUrl = options.baseUrl;
    this.apiKey = options.apiKey || undefined;
    this.slots = this.options.maxConcurrency >= UNBOUNDED ? undefined : new Semaphore(this.options.maxConcurrency);
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
   * the stream's overall deadline; a reply that is not an event stream is a bad response. A 202 is
   * not polled here, as in the Python package: NVCF answers streams directly.
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
        const accepted = response.statusCode === 202 ? ` (HTTP 202, NVCF-REQID ${headerOf(response, 'nvcf-reqid') ?? 'none'})` : '';
        throw this.badResponse(call, `expected an event stream${accepted}, got ${contentType || 'no content type'}: ${text.slice(0, 200) || '(empty body)'}`);
      }
      for await (const piece of response.body) {
        clearTimer();
        watch.received((piece as Uint8Array).byteLength);
        yield decoder.decode(piece as Uint8Array, { stream: true });
        armTimer();
      }
      const rest = decoder.decode();
      if (rest) yield rest;
      this.ended(path, call);
    } catch (error) {
      throw this.ended(path, call, this.translateTransportError(error, controller, call));
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
   * One JSON call: the response is read whole (after polling, when NVCF accepted it with a 202),
   * parsed and checked by `read`. An idempotent call whose body was cut, unparsable or refused by
   * `read` is sent again, sharing the retry budget with the failures before the headers.
   */
  private async json<T>(method: string, path: string, body: unknown, call: JsonCallOptions<T>): Promise<T> {
    const url = this.urlOf(path);
    for (let attempt = 0; ; attempt++) {
      let sent = await this.send(method, path, body, call, false, attempt);
      attempt = sent.attempt;
      if (sent.response.statusCode === 202) sent = await this.poll(sent, path, call);
      let value: T;
      try {
        value = await this.readJson(sent, call);
      } catch (error) {
        if (!(error instanceof NVIDIAError)) throw error;
        this.options.hooks.onAttempt?.({ endpoint: path, model: call.model, status: 'bad-body', seconds: 0 });
        await this.afterFailure(path, call, error, call.idempotent === true, attempt);
        await this.backoff(attempt, undefined, url, error.nimMessage || error.kind, call.signal);
        continue;
      }
      this.ended(path, call);
      return value;
    }
  }

  /**
   * Follows a request NVCF accepted (HTTP 202 with an NVCF-REQID) to its result, as the Python
   * package does: GET the polling URL until it stops answering 202, within `pollTimeoutMs`. The
   * request gives up its concurrency slot between polls; each poll is an attempt like any other.
   */
  private async poll(accepted: Sent, path: string, call: CallOptions): Promise<Sent> {
    const deadline = performance.now() + this.options.pollTimeoutMs;
    let current = accepted;
    let requestId = headerOf(current.response, 'nvcf-reqid');
    while (current.response.statusCode === 202) {
      requestId = headerOf(current.response, 'nvcf-reqid') ?? requestId;
      await current.response.body.dump().catch(() => undefined);
      current.release();
      if (!requestId) throw this.ended(path, call, this.badResponse(call, 'HTTP 202 without an NVCF-REQID header to poll'));
      if (performance.now() > deadline) {
        throw this.ended(
          path,
          call,
          new NVIDIAError({
            kind: 'timeout',
            model: call.model,
            url: this.baseUrl,
            nimMessage: `request ${requestId} was still pending after ${this.options.pollTimeoutMs} ms (pollTimeoutMs)`,
            message: `the NVIDIA API catalog accepted the request for model ${call.model} but had no result within ${this.options.pollTimeoutMs} ms (pollTimeoutMs; NVCF-REQID ${requestId})`,
          }),
        );
      }
      await this.sleep(this.options.pollIntervalMs, call.signal);
      const statusUrl = this.options.pollingUrl.replace('{request_id}', encodeURIComponent(requestId));
      current = await this.send('GET', statusUrl, undefined, { ...call, idempotent: true }, false, 0);
    }
    return current;
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
    for (let attempt = firstAttempt; ; attempt++) {
      call.signal?.throwIfAborted();
      await this.options.hooks.beforeAttempt?.({ endpoint: path, model: call.model });
      const release = this.slots ? (await this.slots.acquire(1, call.priority ?? 0))[1] : () => undefined;
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
      let released = false;
      const done = () => {
        clearTimer();
        call.signal?.removeEventListener('abort', abortFromCaller);
        if (!released) release();
        released = true;
      };
      armTimer();

      let response: Dispatcher.ResponseData;
      const sentAt = performance.now();
      const report = (status: string) =>
        this.options.hooks.onAttempt?.({ endpoint: path, model: call.model, status, seconds: (performance.now() - sentAt) / 1000 });
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
        await this.afterFailure(path, call, failure, true, attempt);
        await this.backoff(attempt, undefined, url, failure.kind, call.signal);
        continue;
      }

      report(String(response.statusCode));
      if (response.statusCode >= 200 && response.statusCode < 300) return { response, controller, release: done, armTimer, clearTimer, attempt };

      const errorBody = await response.body.text().catch(() => '');
      done();
      const retryAfter = parseRetryAfter(headerOf(response, 'retry-after') ?? null);
      const failure = classifyHttpFailure({
        status: response.statusCode,
        body: errorBody,
        model: call.model,
        url,
        retryAfterSeconds: retryAfter,
      });
      const waitTooLong = retryAfter !== undefined && retryAfter * 1000 > this.options.retryMaxDelayMs;
      await this.afterFailure(path, call, failure, RETRYABLE.has(response.statusCode) && !waitTooLong, attempt);
      await this.backoff(attempt, retryAfter, url, `HTTP ${response.statusCode}`, call.signal);
    }
  }

  /**
   * What LangChain's AsyncCaller does after a failed attempt: the failed-attempt handler is told, and
   * may end the call by throwing; otherwise the call ends here unless the failure is retryable and
   * retries are left. Returns when another attempt is due.
   */
  private async afterFailure(path: string, call: CallOptions, failure: NVIDIAError, retryable: boolean, attempt: number): Promise<void> {
    const handler = call.onFailedAttempt ?? this.options.onFailedAttempt;
    if (handler) {
      try {
        await handler(failure);
      } catch (error) {
        this.ended(path, call, failure);
        throw error;
      }
    }
    if (!retryable || attempt >= (call.maxRetries ?? this.options.maxRetries)) throw this.ended(path, call, failure);
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
    await this.sleep(delayMs, signal);
  }

  /** Waits, or rejects with the caller's own reason (as everywhere else) rather than the timer's generic AbortError. */
  private async sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    await sleep(ms, undefined, { signal }).catch((error: unknown) => {
      throw signal?.aborted ? signal.reason : error;
    });
  }

  private headers(hasBody: boolean, streaming: boolean): Record<string, string> {
    const headers: Record<string, string> = { ...this.options.headers, accept: streaming ? 'text/event-stream' : 'application/json' };
    if (hasBody) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  /** Tells `onCallEnd` how a call ended (a caller's abort is not reported); returns the error it was given. */
  private ended(path: string, call: CallOptions, error?: unknown): unknown {
    if (error === undefined || error instanceof NVIDIAError) {
      this.options.hooks.onCallEnd?.({ endpoint: path, model: call.model, error });
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
