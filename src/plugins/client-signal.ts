import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Aborted when the client goes away before its reply is complete, so the NIM calls made for
     * it stop too. (Fastify's own `request.signal` follows the request stream, which closes as
     * soon as a POST body has been read.)
     */
    clientSignal: AbortSignal;
  }
}

export default fp(
  async (fastify) => {
    fastify.decorateRequest('clientSignal', undefined as unknown as AbortSignal);
    fastify.addHook('onRequest', async (request, reply) => {
      const controller = new AbortController();
      request.clientSignal = controller.signal;
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) controller.abort(new Error('the client closed the connection'));
      });
    });
  },
  { name: 'client-signal' },
);
