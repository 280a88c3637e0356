import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { problemType } from '../errors.js';

/**
 * Errors raised before a request reaches a route (a URL the router cannot decode, a path parameter
 * over its length limit) and errors of the HTTP parser (headers too large, a malformed request):
 * answered as problem documents like every other error. These requests never ran the app's hooks,
 * so the body is built here rather than by problemFor.
 */

const problemBody = (status: number, detail: string, extra: Record<string, string> = {}) => ({
  type: problemType(`http-${status}`),
  title: STATUS_CODES[status] ?? 'Client Error',
  status,
  detail,
  ...extra,
});

/** Fastify's `frameworkErrors` option: the router's own refusals. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  const detail =
    error.code === 'FST_ERR_BAD_URL'
      ? 'the URL has an invalid percent-encoding (such as %ZZ) in its path'
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? 'a path parameter is longer than any the API accepts'
        : error.message;
  void reply
    .code(status)
    .type('application/problem+json')
    .send(problemBody(status, detail, { instance: request.url, request_id: String(request.id) }));
}

function parserProblem(code: string | undefined): { status: number; detail: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, detail: 'the request line and headers are larger than the service accepts' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, detail: 'the request was not received in time' };
  return { status: 400, detail: 'the request is not valid HTTP/1.1' };
}

/**
 * Node's `clientError`: the connection cannot be used after a parse error, so the answer says
 * `Connection: close` (a keep-alive client then opens a new connection instead of failing on this one).
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy(error);
    return;
  }
  const { status, detail } = parserProblem(error.code);
  const body = JSON.stringify(problemBody(status, detail));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
