import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError, problemType } from '../errors.js';

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id: string;
  [extension: string]: unknown;
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function issueMessage(issue: ValidationIssue): string {
  const params = issue.params ?? {};
  if (typeof params.additionalProperty === 'string') return `has an unknown property "${params.additionalProperty}"`;
  if (Array.isArray(params.allowedValues)) return `must be one of ${params.allowedValues.map((value) => JSON.stringify(value)).join(', ')}`;
  if (issue.message === 'must match pattern "\\S"') return 'must contain something other than whitespace';
  return issue.message ?? 'is invalid';
}

function fromValidation(error: FastifyError): { detail: string; errors: Array<{ path: string; message: string }> } {
  const context = error.validationContext ?? 'request';
  const errors = (error.validation as ValidationIssue[]).map((issue) => ({
    path: `${context}${issue.instancePath}`,
    message: issueMessage(issue),
  }));
  return { detail: errors.map((issue) => `${issue.path} ${issue.message}`).join('; '), errors };
}

type ProblemFields = Pick<ProblemBody, 'type' | 'title' | 'status' | 'detail'> & Record<string, unknown>;

function send(reply: FastifyReply, request: FastifyRequest, problem: ProblemFields, headers: Record<string, string> = {}) {
  const body: ProblemBody = { ...problem, instance: request.url, request_id: String(request.id) };
  return reply.code(problem.status).headers(headers).type('application/problem+json').send(body);
}

/**
 * Every error leaves as an RFC 9457 problem document with the right status: validation failures
 * name each failing field, services' ProblemErrors pass through, framework 4xx keep their status,
 * anything else is a 500 whose detail points to the log by request id. Never a stack trace.
 */
export default fp(
  async (fastify) => {
    fastify.setErrorHandler((error: FastifyError, request, reply) => {
      if (request.clientSignal.aborted && !(error instanceof ProblemError)) {
        request.log.info({ err: error }, 'request abandoned: the client closed the connection');
        return reply.code(499).send();
      }
      if (error instanceof ProblemError) {
        if (error.status >= 500) request.log.warn({ err: error }, error.detail);
        return send(
          reply,
          request,
          { type: error.type, title: error.title, status: error.status, detail: error.detail, ...error.extensions },
          error.headers,
        );
      }
      if (error.validation) {
        const { detail, errors } = fromValidation(error);
        return send(reply, request, { type: problemType('validation-error'), title: 'Bad Request', status: 400, detail, errors });
      }
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        const slug = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'malformed-json' : `http-${status}`;
        return send(reply, request, { type: problemType(slug), title: TITLES[status] ?? 'Client Error', status, detail: error.message });
      }
      request.log.error({ err: error }, 'unhandled error');
      return send(reply, request, {
        type: problemType('internal-error'),
        title: 'Internal Server Error',
        status: 500,
        detail: `an unexpected error occurred; the service log has the details under request id ${String(request.id)}`,
      });
    });

    fastify.setNotFoundHandler((request, reply) =>
      send(reply, request, {
        type: problemType('not-found'),
        title: 'Not Found',
        status: 404,
        detail: `no route ${request.method} ${request.url.split('?')[0]}`,
      }),
    );
  },
  { name: 'problem-errors' },
);
