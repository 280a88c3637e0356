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

/** Gives each request the signals its work stops on. */
export default fp<{ requestTimeoutMs: number }>(
  async (fastify, { requestTimeoutMs }) => {
    fastify.decorateRequest('clientSignal', undefined as unknown as AbortSignal);
    fastify.decorateRequest('deadline', undefined as unknown as AbortSignal);
    fastify.addHook('onRequest', async (request, reply) => {
      const controller = new AbortController();
      request.clientSignal = controller.signal;
      request.deadline = requestTimeoutMs > 0 ? AbortSignal.any([controller.signal, AbortSignal.timeout(requestTimeoutMs)]) : controller.signal;
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) controller.abort(new Error('the client closed the connection'));
      });
    });
  },
  { name: 'request-signals' },
);
