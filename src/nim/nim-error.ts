import { ProblemError } from '../errors.js';

export type NimFailureKind =
  | 'input-too-long'
  | 'nim-auth'
  | 'nim-model-unavailable'
  | 'nim-model-retired'
  | 'nim-degraded'
  | 'nim-rate-limited'
  | 'nim-unavailable'
  | 'nim-busy'
  | 'nim-rejected-request'
  | 'nim-stream-error'
  | 'nim-timeout'
  | 'nim-unreachable'
  | 'nim-bad-response';

interface NimFailure {
  kind: NimFailureKind;
  model: string;
  url: string;
  /** The NIM's own words, when it sent any. */
  nimMessage: string;
  upstreamStatus?: number;
  retryAfterSeconds?: number;
  /** Replaces the generic wording when the thrower knows more (which input, which limit). */
  detail?: string;
  cause?: unknown;
}

const outward: Record<NimFailureKind, { status: number; title: string }> = {
  'input-too-long': { status: 422, title: 'Input Too Long For The Embedding Model' },
  'nim-auth': { status: 502, title: 'NIM Rejected The Service Credentials' },
  'nim-model-unavailable': { status: 502, title: 'Model Not Available On The NIM' },
  'nim-model-retired': { status: 502, title: 'Model Retired' },
  'nim-degraded': { status: 503, title: 'Model Degraded' },
  'nim-rate-limited': { status: 503, title: 'NIM Rate Limited' },
  'nim-unavailable': { status: 502, title: 'NIM Failed' },
  'nim-busy': { status: 503, title: 'NIM Unavailable' },
  'nim-rejected-request': { status: 502, title: 'NIM Rejected The Request' },
  'nim-stream-error': { status: 502, title: 'NIM Stream Error' },
  'nim-timeout': { status: 504, title: 'NIM Timeout' },
  'nim-unreachable': { status: 503, title: 'NIM Unreachable' },
  'nim-bad-response': { status: 502, title: 'NIM Sent An Unexpected Response' },
};

function describe(failure: NimFailure): string {
  const said = failure.nimMessage ? `: ${failure.nimMessage}` : '';
  const http = failure.upstreamStatus ? ` (HTTP ${failure.upstreamStatus})` : '';
  const at = `${failure.url}${http}`;
  switch (failure.kind) {
    case 'input-too-long':
      return `an input is longer than model ${failure.model} accepts${said}`;
    case 'nim-auth':
      return `the NIM at ${at} rejected the service's credentials for model ${failure.model}${said}; check NVIDIA_API_KEY`;
    case 'nim-model-unavailable':
      return `model ${failure.model} is not available at ${at}${said}; the name may be wrong or the account not entitled to it`;
    case 'nim-model-retired':
      return `model ${failure.model} has been retired at ${at}${said}; configure another model`;
    case 'nim-degraded':
      return `model ${failure.model} is degraded at ${at} and cannot be invoked right now${said}`;
    case 'nim-rate-limited':
      return `the NIM at ${at} is rate limiting model ${failure.model}${said}`;
    case 'nim-unavailable':
      return `the NIM at ${at} failed for model ${failure.model}${said}`;
    case 'nim-busy':
      return `the NIM at ${at} kept answering 503 for model ${failure.model} (overloaded or still loading)${said}; try again later`;
    case 'nim-rejected-request':
      return `the NIM at ${at} rejected the request for model ${failure.model}${said}`;
    case 'nim-stream-error':
      return `the NIM at ${failure.url} reported an error while streaming model ${failure.model}${said}`;
    case 'nim-timeout':
      return `the NIM at ${failure.url} did not answer in time for model ${failure.model}`;
    case 'nim-unreachable':
      return `the NIM at ${failure.url} cannot be reached for model ${failure.model}${said}`;
    case 'nim-bad-response':
      return `the NIM at ${at} sent a response this service cannot read for model ${failure.model}${said}`;
  }
}

/** Seconds a 503 asks the caller to wait when the NIM named no wait of its own. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** A failed call to a NIM, already phrased for the API caller (502/503/504, or 422 for an over-long input); every 503 carries Retry-After. */
export class NimError extends ProblemError {
  readonly kind: NimFailureKind;
  readonly model: string;
  readonly url: string;
  readonly nimMessage: string;
  readonly upstreamStatus: number | undefined;

  constructor(failure: NimFailure) {
    const { status, title } = outward[failure.kind];
    const retryAfter = failure.retryAfterSeconds || (status === 503 ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
    super({
      status,
      slug: failure.kind,
      title,
      detail: failure.detail ?? describe(failure),
      headers: retryAfter ? { 'retry-after': String(Math.ceil(retryAfter)) } : {},
      extensions: { model: failure.model, ...(failure.upstreamStatus ? { upstream_status: failure.upstreamStatus } : {}) },
      cause: failure.cause,
    });
    this.name = 'NimError';
    this.kind = failure.kind;
    this.model = failure.model;
    this.url = failure.url;
    this.nimMessage = failure.nimMessage;
    this.upstreamStatus = failure.upstreamStatus;
  }

  /** True for failures that say the configured model itself is unusable, which readiness reports. */
  get concernsModel(): boolean {
    return ['nim-auth', 'nim-model-unavailable', 'nim-model-retired', 'nim-degraded'].includes(this.kind);
  }
}

/** Pulls the human-readable message out of the error bodies NIMs and the hosted catalog send. */
export function nimMessageOf(body: string): string {
  const text = body.trim();
  if (!text) return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text.slice(0, 500);
  }
  return messageOf(parsed) ?? text.slice(0, 500);
}

function messageOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const parts = value.map(messageOf).filter((part): part is string => Boolean(part));
    return parts.length > 0 ? parts.join('; ') : undefined;
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of ['detail', 'message', 'error', 'msg', 'title']) {
      const found = messageOf(record[key]);
      if (found) return found;
    }
  }
  return undefined;
}

const TOO_LONG =
  /(input length .*exceed|exceeds? .*tokens?|too long|too many tokens|maximum (allowed )?(token|context|sequence)|max(imum)?[ _](sequence|token)s?[ _]?(length|size))/i;
const DEGRADED = /degraded/i;

/** Maps a final (non-retried) HTTP failure from a NIM to what the caller should see. */
export function classifyHttpFailure(options: {
  status: number;
  body: string;
  model: string;
  url: string;
  retryAfterSeconds?: number;
}): NimError {
  const nimMessage = nimMessageOf(options.body);
  const base = { model: options.model, url: options.url, nimMessage, upstreamStatus: options.status };
  const { status } = options;
  if (status === 400 && DEGRADED.test(nimMessage)) return new NimError({ ...base, kind: 'nim-degraded' });
  if ((status === 400 || status === 413 || status === 422) && TOO_LONG.test(nimMessage)) {
    return new NimError({ ...base, kind: 'input-too-long' });
  }
  if (status === 401 || status === 403) return new NimError({ ...base, kind: 'nim-auth' });
  if (status === 404) return new NimError({ ...base, kind: 'nim-model-unavailable' });
  if (status === 410) return new NimError({ ...base, kind: 'nim-model-retired' });
  if (status === 408) return new NimError({ ...base, kind: 'nim-timeout' });
  if (status === 429) {
    return new NimError({ ...base, kind: 'nim-rate-limited', retryAfterSeconds: options.retryAfterSeconds });
  }
  if (status === 503) return new NimError({ ...base, kind: 'nim-busy', retryAfterSeconds: options.retryAfterSeconds });
  if (status >= 500) return new NimError({ ...base, kind: 'nim-unavailable', retryAfterSeconds: options.retryAfterSeconds });
  return new NimError({ ...base, kind: 'nim-rejected-request' });
}
