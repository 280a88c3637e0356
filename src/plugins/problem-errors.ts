import { NVIDIAError } from '@nim-rag/langchain-nvidia';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { notFound, ProblemError, problemType } from '../errors.js';
import { nimProblem } from '../nim/nim-problem.js';

export interface ProblemBody {
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

export interface Problem {
  body: ProblemBody;
  headers: Record<string, string>;
}

/**
 * How an error reads to the caller, as an RFC 9457 problem document: validation failures name
 * each failing field, services' ProblemErrors pass through, framework 4xx keep their status, work
 * stopped by the request's deadline is a 504, anything else a 500 whose detail points to the log
 * by request id. Never a stack trace. Used for replies and for `error` events of streams.
 */
export function problemFor(error: unknown, request: FastifyRequest): Problem {
  const problem = (fields: ProblemFields, headers: Record<string, string> = {}): Problem => ({
    body: { ...fields, instance: request.url, request_id: String(request.id) },
    headers,
  });
  if (error instanceof NVIDIAError) return problemFor(nimProblem(error), request);
  if (error instanceof ProblemError) {
    if (error.status >= 500) request.log.warn({ err: error }, error.detail);
    return problem({ type: error.type, title: error.title, status: error.status, detail: error.detail, ...error.extensions }, error.headers);
  }
  if (request.deadline.aborted && !request.clientSignal.aborted) {
    request.log.warn({ err: error }, 'request stopped at its deadline');
    return problem({
      type: problemType('request-timeout'),
      title: 'Request Timeout',
      status: 504,
      detail: 'the request did not finish within the service\'s time budget (REQUEST_TIMEOUT_MS); for a large ingest, send fewer documents per request',
    });
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const { detail, errors } = fromValidation(fastifyError);
    return problem({ type: problemType('validation-error'), title: 'Bad Request', status: 400, detail, errors });
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const slug = fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'malformed-json' : `http-${status}`;
    return problem({ type: problemType(slug), title: TITLES[status] ?? 'Client Error', status, detail: fastifyError.message });
  }
  request.log.error({ err: error }, 'unhandled error');
  return problem({
    type: problemType('internal-error'),
    title: 'Internal Server Error',
    status: 500,
    detail: `an unexpected error occurred; the service log has the details under request id ${String(request.id)}`,
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `openai`: errors also carry OpenAI's `error` object and go out as application/json, which OpenAI SDKs parse. */
    errorFormat?: 'openai';
  }
}

/**
 * OpenAI's error object for a problem, which OpenAI SDKs raise with its message. OpenAI's `code`
 * is a string (`model_not_found`); the problem type's last segment is one.
 */
export const openaiError = (body: ProblemBody) => ({
  message: body.detail,
  type: body.type,
  code: (body.type.split('/').at(-1) ?? 'error').replaceAll('-', '_'),
});

function sendProblem(reply: FastifyReply, { body, headers }: Problem) {
  reply.code(body.status).headers(headers);
  if (reply.request.routeOptions.config.errorFormat === 'openai') return reply.type('application/json').send({ ...body, error: openaiError(body) });
  return reply.type('application/problem+json').send(body);
}

/** Every error leaves as a problem document (see problemFor); a request whose client left gets no body. */
export default fp(
  async (fastify) => {
    fastify.setErrorHandler((error: FastifyError, request, reply) => {
      if (request.clientSignal.aborted && !(error instanceof ProblemError)) {
        request.log.info({ err: error }, 'request abandoned: the client closed the connection');
        return reply.code(499).send();
      }
      return sendProblem(reply, problemFor(error, request));
    });

    fastify.setNotFoundHandler((request, reply) =>
      sendProblem(reply, problemFor(notFound(`no route ${request.method} ${request.url.split('?')[0]}`), request)),
    );
  },
  { name: 'problem-errors', dependencies: ['request-signals'] },
);
