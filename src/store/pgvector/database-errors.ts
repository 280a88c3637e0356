import { StoreUnavailableError } from '../semantics/store-errors.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Postgres SQLSTATEs meaning the server went away or is not accepting work: admin/crash shutdown, cannot connect now. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Lost to a concurrent transaction: worth running again. */
const RETRYABLE_STATES = new Set(['40001', '40P01']);

const codeOf = (error: unknown) => (error as { code?: unknown } | null)?.code;

/** True when the database could not be reached or dropped the connection (rather than refusing the statement). */
export function isConnectionError(error: unknown): boolean {
  const code = codeOf(error);
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : '';
  // node-postgres reports a dropped connection and a pool wait that timed out without a code.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed/i.test(message);
}

export const isRetryable = (error: unknown) => RETRYABLE_STATES.has(String(codeOf(error)));

/** How a database failure reaches callers: unreachable or too slow is a 503 to retry; anything else stays as it is. */
export function asStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  if (isConnectionError(error)) {
    return new StoreUnavailableError(`the vector database is unreachable (${describe(error)}); try again shortly`, error);
  }
  if (codeOf(error) === '57014') {
    return new StoreUnavailableError('the vector database did not answer within DATABASE_STATEMENT_TIMEOUT_MS; try again shortly', error);
  }
  return error;
}

export function describe(error: unknown): string {
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
