import type { NVIDIAError, NVIDIAErrorKind } from '@nim-rag/langchain-nvidia';
import { ProblemError } from '../errors.js';

/**
 * How each failure of the NVIDIA package reads to this service's callers: the NIM's failures are
 * the service's upstream failures (502/503/504), an over-long input is the caller's (422).
 */
const outward: Record<NVIDIAErrorKind, { status: number; slug: string; title: string }> = {
  'input-too-long': { status: 422, slug: 'input-too-long', title: 'Input Too Long For The Embedding Model' },
  auth: { status: 502, slug: 'nim-auth', title: 'NIM Rejected The Service Credentials' },
  'model-unavailable': { status: 502, slug: 'nim-model-unavailable', title: 'Model Not Available On The NIM' },
  'model-retired': { status: 502, slug: 'nim-model-retired', title: 'Model Retired' },
  'model-degraded': { status: 503, slug: 'nim-degraded', title: 'Model Degraded' },
  'rate-limited': { status: 503, slug: 'nim-rate-limited', title: 'NIM Rate Limited' },
  'server-error': { status: 502, slug: 'nim-unavailable', title: 'NIM Failed' },
  busy: { status: 503, slug: 'nim-busy', title: 'NIM Unavailable' },
  'rejected-request': { status: 502, slug: 'nim-rejected-request', title: 'NIM Rejected The Request' },
  'stream-error': { status: 502, slug: 'nim-stream-error', title: 'NIM Stream Error' },
  timeout: { status: 504, slug: 'nim-timeout', title: 'NIM Timeout' },
  unreachable: { status: 503, slug: 'nim-unreachable', title: 'NIM Unreachable' },
  'bad-response': { status: 502, slug: 'nim-bad-response', title: 'NIM Sent An Unexpected Response' },
  unsupported: { status: 502, slug: 'nim-unsupported', title: 'Model Does Not Support This' },
};

/** The package names its client options in its messages; this service's operators set them through these variables. */
const SETTINGS: Array<[RegExp, string]> = [
  [/\bstreamMinBytesPerSecond\b/g, 'NIM_STREAM_MIN_BYTES_PER_SECOND'],
  [/\bstreamTimeoutMs\b/g, 'NIM_STREAM_TIMEOUT_MS'],
];

/** Seconds a 503 asks the caller to wait when the NIM named no wait of its own. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** The problem document for a failed NIM call, with the NIM's status passed on; every 503 carries Retry-After. */
export function nimProblem(error: NVIDIAError): ProblemError {
  const { status, slug, title } = outward[error.kind];
  const retryAfter = error.retryAfterSeconds || (status === 503 ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
  return new ProblemError({
    status,
    slug,
    title,
    detail: SETTINGS.reduce((detail, [option, variable]) => detail.replace(option, variable), error.message),
    headers: retryAfter ? { 'retry-after': String(Math.ceil(retryAfter)) } : {},
    extensions: { model: error.model, ...(error.upstreamStatus ? { upstream_status: error.upstreamStatus } : {}) },
    cause: error,
  });
}
