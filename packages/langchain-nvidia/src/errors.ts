/** What went wrong in a call to a NIM or the NVIDIA API catalog. */
export type NVIDIAErrorKind =
  | 'input-too-long'
  | 'auth'
  | 'model-unavailable'
  | 'model-retired'
  | 'model-degraded'
  | 'rate-limited'
  | 'server-error'
  | 'busy'
  | 'rejected-request'
  | 'stream-error'
  | 'timeout'
  | 'unreachable'
  | 'bad-response'
  | 'unsupported';

export interface NVIDIAErrorDetails {
  kind: NVIDIAErrorKind;
  model: string;
  /** The base URL (or endpoint URL) that was called. */
  url: string;
  /** The NIM's own words, when it sent any. */
  nimMessage: string;
  upstreamStatus?: number | undefined;
  /** From the NIM's Retry-After header, when it sent one. */
  retryAfterSeconds?: number | undefined;
  /** Replaces the generic wording when the thrower knows more (which input, which limit). */
  message?: string | undefined;
  cause?: unknown;
}

function describe(failure: NVIDIAErrorDetails): string {
  const said = failure.nimMessage ? `: ${failure.nimMessage}` : '';
  const http = failure.upstreamStatus ? ` (HTTP ${failure.upstreamStatus})` : '';
  const at = `${failure.url}${http}`;
  switch (failure.kind) {
    case 'input-too-long':
      return `an input is longer than model ${failure.model} accepts${said}`;
    case 'auth':
      return `the NIM at ${at} rejected the credentials for model ${failure.model}${said}; check NVIDIA_API_KEY`;
    case 'model-unavailable':
      return `model ${failure.model} is not available at ${at}${said}; the name may be wrong or the account not entitled to it`;
    case 'model-retired':
      return `model ${failure.model} has been retired at ${at}${said}; configure another model`;
    case 'model-degraded':
      return `model ${failure.model} is degraded at ${at} and cannot be invoked right now${said}`;
    case 'rate-limited':
      return `the NIM at ${at} is rate limiting model ${failure.model}${said}`;
    case 'server-error':
      return `the NIM at ${at} failed for model ${failure.model}${said}`;
    case 'busy':
      return `the NIM at ${at} kept answering 503 for model ${failure.model} (overloaded or still loading)${said}; try again later`;
    case 'rejected-request':
      return `the NIM at ${at} rejected the request for model ${failure.model}${said}`;
    case 'stream-error':
      return `the NIM at ${failure.url} reported an error while streaming model ${failure.model}${said}`;
    case 'timeout':
      return `the NIM at ${failure.url} did not answer in time for model ${failure.model}`;
    case 'unreachable':
      return `the NIM at ${failure.url} cannot be reached for model ${failure.model}${said}`;
    case 'bad-response':
      return `the NIM at ${at} sent a response that cannot be read for model ${failure.model}${said}`;
    case 'unsupported':
      return `model ${failure.model} does not support this${said}`;
  }
}

/**
 * Every failure of this package's models: `kind` says what happened, `retryAfterSeconds` how long
 * the NIM asked to wait, `nimMessage` what the NIM itself said. Callers' own aborts are rethrown
 * as the signal's reason, never wrapped.
 */
export class NVIDIAError extends Error {
  readonly kind: NVIDIAErrorKind;
  readonly model: string;
  readonly url: string;
  readonly nimMessage: string;
  readonly upstreamStatus: number | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(details: NVIDIAErrorDetails) {
    super(details.message ?? describe(details), { cause: details.cause });
    this.name = 'NVIDIAError';
    this.kind = details.kind;
    this.model = details.model;
    this.url = details.url;
    this.nimMessage = details.nimMessage;
    this.upstreamStatus = details.upstreamStatus;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }

  /**
   * The NIM's HTTP status, under the name LangChain's retry handlers (AsyncCaller's default among
   * them) read; undefined when no response came.
   */
  get status(): number | undefined {
    return this.upstreamStatus;
  }

  /** True for failures that say the model itself is unusable (bad key, not entitled, retired, degraded). */
  get concernsModel(): boolean {
    return ['auth', 'model-unavailable', 'model-retired', 'model-degraded'].includes(this.kind);
  }
}

/** One input was longer than the model takes with truncate NONE; `inputIndex` says which. */
export class InputTooLongError extends NVIDIAError {
  constructor(
    readonly inputIndex: number,
    readonly tokenLimit: number | undefined,
    original: NVIDIAError,
  ) {
    const limit = tokenLimit === undefined ? '' : ` (limit ${tokenLimit} tokens)`;
    super({
      kind: 'input-too-long',
      model: original.model,
      url: original.url,
      nimMessage: original.nimMessage,
      upstreamStatus: original.upstreamStatus,
      message: `input ${inputIndex} is longer than model ${original.model} accepts${limit}: ${original.nimMessage}`,
      cause: original,
    });
    this.name = 'InputTooLongError';
  }
}

/** The token limit a NIM names in its "input too long" message, when it names one. */
export function tokenLimitOf(message: string): number | undefined {
  const match = /(?:maximum|max|limit)[^0-9]{0,40}(\d+)/i.exec(message) ?? /(\d+)\s*tokens?\s*(?:max|limit)/i.exec(message);
  return match?.[1] ? Number(match[1]) : undefined;
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

/** Maps a final (non-retried) HTTP failure from a NIM to a typed error. */
export function classifyHttpFailure(options: {
  status: number;
  body: string;
  model: string;
  url: string;
  retryAfterSeconds?: number | undefined;
}): NVIDIAError {
  const nimMessage = nimMessageOf(options.body);
  const base = { model: options.model, url: options.url, nimMessage, upstreamStatus: options.status };
  const { status } = options;
  if (status === 400 && DEGRADED.test(nimMessage)) return new NVIDIAError({ ...base, kind: 'model-degraded' });
  if ((status === 400 || status === 413 || status === 422) && TOO_LONG.test(nimMessage)) {
    return new NVIDIAError({ ...base, kind: 'input-too-long' });
  }
  if (status === 401 || status === 403) return new NVIDIAError({ ...base, kind: 'auth' });
  if (status === 404) return new NVIDIAError({ ...base, kind: 'model-unavailable' });
  if (status === 410) return new NVIDIAError({ ...base, kind: 'model-retired' });
  if (status === 408) return new NVIDIAError({ ...base, kind: 'timeout' });
  if (status === 429) return new NVIDIAError({ ...base, kind: 'rate-limited', retryAfterSeconds: options.retryAfterSeconds });
  if (status === 503) return new NVIDIAError({ ...base, kind: 'busy', retryAfterSeconds: options.retryAfterSeconds });
  if (status >= 500) return new NVIDIAError({ ...base, kind: 'server-error', retryAfterSeconds: options.retryAfterSeconds });
  return new NVIDIAError({ ...base, kind: 'rejected-request' });
}
