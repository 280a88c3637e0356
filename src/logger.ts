import { AsyncLocalStorage } from 'node:async_hooks';
import { context, createContextKey, trace } from '@opentelemetry/api';
import { pino, type Logger, type LoggerOptions } from 'pino';
import { tracingStarted } from './telemetry/spans.js';

/** Secrets never reach a log line, whatever logs them. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'apiKey',
  '*.apiKey',
  'NVIDIA_API_KEY',
  '*.NVIDIA_API_KEY',
  'NGC_API_KEY',
  '*.NGC_API_KEY',
];

/** Query parameters that may carry a credential: a client that puts its key in the URL does not get it logged. */
const SECRET_QUERY_PARAMETER = /^(api[-_]?key|key|token|access[-_]?token|auth|authorization|password|secret)$/i;

export function urlWithoutSecrets(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const query = new URLSearchParams(url.slice(start + 1));
  let redacted = false;
  for (const name of new Set(query.keys())) {
    if (SECRET_QUERY_PARAMETER.test(name)) {
      query.set(name, '[redacted]');
      redacted = true;
    }
  }
  return redacted ? `${url.slice(0, start)}?${query.toString()}` : url;
}

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

const requestIds = new AsyncLocalStorage<string>();
const REQUEST_ID = createContextKey('nim-rag request id');

/**
 * The id of the request a piece of work is for, so that lines logged by services carry it too.
 * With tracing on it rides in the OpenTelemetry context, itself an AsyncLocalStorage: on Node 20
 * each storage in use is copied onto every promise made, and a chain makes hundreds an answer.
 */
export const requestScope = {
  run(id: string, work: () => void): void {
    if (tracingStarted()) context.with(context.active().setValue(REQUEST_ID, id), work);
    else requestIds.run(id, work);
  },
  getStore(): string | undefined {
    return tracingStarted() ? (context.active().getValue(REQUEST_ID) as string | undefined) : requestIds.getStore();
  },
};

export function loggerOptions(level: string, pretty: boolean): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Fastify's request serialiser, but with credentials in the query string redacted; any other `req` is logged as given.
    serializers: {
      req: (request: LoggedRequest) =>
        typeof request.url === 'string'
          ? {
              method: request.method,
              url: urlWithoutSecrets(request.url),
              host: request.host,
              remoteAddress: request.ip,
              remotePort: request.socket?.remotePort,
            }
          : request,
    },
    // Fastify's request loggers bind reqId already; every other line logged during a request gets it here,
    // and every line logged under a span (tracing on) its trace and span, as OpenTelemetry's log correlation names them.
    mixin: (_merge, _level, logger) => {
      const requestId = requestScope.getStore();
      const span = trace.getActiveSpan()?.spanContext();
      return {
        ...(requestId === undefined || 'reqId' in logger.bindings() ? {} : { reqId: requestId }),
        ...(span ? { trace_id: span.traceId, span_id: span.spanId, trace_flags: `0${span.traceFlags.toString(16)}` } : {}),
      };
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
}

/** JSON lines, except pretty-printed for a person at a terminal (never in production). */
export function createLogger(level: string): Logger {
  const pretty = Boolean(process.stdout.isTTY) && process.env.NODE_ENV !== 'production';
  return pino(loggerOptions(level, pretty));
}
