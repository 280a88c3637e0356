import fp from 'fastify-plugin';
import type { Metrics } from '../metrics.js';

/** Observes every answered request by its route template (not its URL, which would explode the label set). */
export default fp<{ metrics: Metrics }>(
  async (fastify, { metrics }) => {
    fastify.addHook('onResponse', async (request, reply) => {
      metrics.httpDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? 'no-route', status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  },
  { name: 'http-metrics' },
);
