import type { FastifyRequest, preValidationAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../errors.js';

const mediaTypeOf = (request: FastifyRequest) => request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();

/**
 * Only the media types an operation declares for its body reach it, and only with a body. Fastify
 * validates a body against the schema of its own media type, so a body of any other type that a
 * parser accepts (text/plain has one built in) would otherwise reach the handler unvalidated.
 */
export default fp(
  async (fastify) => {
    // A body of a type no operation reads (or without a type) is read and dropped rather than
    // refused: an operation that declares no body ignores one, and one that declares a body
    // answers 415 by the check below.
    fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
    fastify.addHook('onRoute', (route) => {
      const content = (route.schema?.body as { content?: Record<string, unknown> } | undefined)?.content;
      if (!content) return;
      const declared = Object.keys(content);
      const list = declared.join(', ');
      const check: preValidationAsyncHookHandler = async (request) => {
        const mediaType = mediaTypeOf(request);
        const sent = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
        if (request.body === undefined && !sent) {
          throw new ProblemError({ status: 400, slug: 'missing-body', title: 'Bad Request', detail: `this operation needs a request body (${list})` });
        }
        if (mediaType === undefined || !declared.includes(mediaType)) {
          throw new ProblemError({
            status: 415,
            slug: 'unsupported-media-type',
            title: 'Unsupported Media Type',
            detail: `the body must be sent as ${list}, not ${mediaType ?? 'without a Content-Type'}`,
          });
        }
      };
      const existing = route.preValidation;
      route.preValidation = [...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]), check] as never;
    });
  },
  { name: 'media-types' },
);
