import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger, type LoggerOptions } from 'pino';

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

/** The id of the request a piece of work is for, so that lines logged by services carry it too. */
export const requestScope = new AsyncLocalStorage<string>();

export function loggerOptions(level: string, pretty: boolean): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Fastify's request loggers bind reqId already; every other line logged during a request gets it here.
    mixin: (_merge, _level, logger) => {
      const requestId = requestScope.getStore();
      return requestId === undefined || 'reqId' in logger.bindings() ? {} : { reqId: requestId };
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
}

/** JSON lines, except pretty-printed for a person at a terminal (never in production). */
export function createLogger(level: string): Logger {
  const pretty = Boolean(process.stdout.isTTY) && process.env.NODE_ENV !== 'production';
  return pino(loggerOptions(level, pretty));
}
