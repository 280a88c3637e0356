import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import underPressure from '@fastify/under-pressure';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../errors.js';

export interface ProtectionOptions {
  /** Host header values served; empty: any. */
  allowedHosts: string[];
  /** Event-loop delay above which requests are shed; 0: never. */
  maxEventLoopDelayMs: number;
  /** Paths never shed, so that an overloaded instance can still be watched. */
  unshedPaths: string[];
}

/**
 * The policy of every response that is not a page: nothing may load or frame it. A route that
 * serves a page gives its own (route option `helmet`, as `/docs` does with docsSecurity).
 */
const API_POLICY: FastifyHelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
};

/** Swagger UI's page: its own scripts and styles (it sets inline styles), images it embeds as data: URIs, and its contract. */
export const docsSecurity: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
  },
};

const SECONDS_TO_RETRY = 5;

/**
 * Security headers (a strict Content-Security-Policy unless a route sets its own), a Host
 * allow-list against DNS rebinding (a browser page on another origin that resolves its name to
 * this address cannot reach an instance without keys), and load shedding: while the event loop
 * lags more than allowed, requests get a 503 with Retry-After at once instead of queueing.
 */
export default fp<ProtectionOptions>(
  async (fastify, { allowedHosts, maxEventLoopDelayMs, unshedPaths }) => {
    await fastify.register(helmet, { global: true, ...API_POLICY });
    if (allowedHosts.length > 0) {
      const allowed = new Set(allowedHosts);
      fastify.addHook('onRequest', async (request) => {
        if (allowed.has(request.hostname.toLowerCase())) return;
        throw new ProblemError({
          status: 403,
          slug: 'host-not-allowed',
          title: 'Forbidden',
          detail: 'this service does not answer for the host named in the request (ALLOWED_HOSTS)',
        });
      });
    }
    if (maxEventLoopDelayMs > 0) {
      const unshed = new Set(unshedPaths);
      await fastify.register(underPressure, {
        maxEventLoopDelay: maxEventLoopDelayMs,
        sampleInterval: Math.min(1000, Math.max(10, Math.floor(maxEventLoopDelayMs / 2))),
        pressureHandler: (request: FastifyRequest) =>
          unshed.has(request.routeOptions.url ?? '')
            ? undefined
            : Promise.reject(
                new ProblemError({
                  status: 503,
                  slug: 'overloaded',
                  title: 'Service Unavailable',
                  detail: `the service is overloaded (its event loop lags more than ${maxEventLoopDelayMs} ms); retry in ${SECONDS_TO_RETRY} s`,
                  headers: { 'retry-after': String(SECONDS_TO_RETRY) },
                }),
              ),
      });
    }
  },
  { name: 'protection' },
);
