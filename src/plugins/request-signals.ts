import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Aborted when the client goes away before its reply is complete, so the NIM calls made for
     * it stop too. (Fastify's own `request.signal` follows the request stream, which closes as
     * soon as a POST body has been read.) Streams use this one: they may run as long as they send.
     */
    clientSignal: AbortSignal;
    /** Aborted like clientSignal, and also when the request's time budget runs out. */
    deadline: AbortSignal;
  }
}

/**
 * Gives each request the signals its work stops on: two controllers and a timer, cleared when the
 * response ends (AbortSignal.any and AbortSignal.timeout cost several times more per request).
 */
export default fp<{ requestTimeoutMs: number }>(
  async (fastify, { requestTimeoutMs }) => {
    fastify.decorateRequest('clientSignal', undefined as unknown as AbortSignal);
    fastify.decorateRequest('deadline', undefined as unknown as AbortSignal);
    fastify.addHook('onRequest', async (request, reply) => {
      const client = new AbortController();
      const deadline = new AbortController();
      request.clientSignal = client.signal;
      request.deadline = deadline.signal;
      const timer =
        requestTimeoutMs > 0
          ? setTimeout(() => deadline.abort(new Error(`the request took longer than ${requestTimeoutMs} ms`)), requestTimeoutMs)
          : undefined;
      reply.raw.once('close', () => {
        clearTimeout(timer);
        if (reply.raw.writableFinished) return;
        const gone = new Error('the client closed the connection');
        client.abort(gone);
        deadline.abort(gone);
      });
    });
  },
  { name: 'request-signals' },
);
