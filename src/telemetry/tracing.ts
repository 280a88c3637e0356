import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { markTracingStarted } from './spans.js';

/** The running OpenTelemetry SDK: stopped last, so that the spans of the final requests are exported. */
export interface Tracing {
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go; by default the SDK's own choice from the OTEL_* variables (OTLP over HTTP, batched). */
  spanProcessors?: NodeSDKConfiguration['spanProcessors'];
}

/**
 * Starts the OpenTelemetry SDK with the instrumentations the service needs: a span per request
 * (@fastify/otel, put on every Fastify instance made from now on), per NIM call (undici, which also
 * sends the W3C `traceparent` to the NIM) and per Postgres query (pg). It must run before the pg
 * driver is first loaded: instrumentation-pg patches it as it is required. The SDK and the
 * instrumentations are loaded here, so a service without tracing never loads them.
 */
export async function startTracing(options: TracingOptions = {}): Promise<Tracing> {
  const [{ NodeSDK }, { defaultResource, resourceFromAttributes }, { FastifyOtelInstrumentation }, { UndiciInstrumentation }, { PgInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/resources'),
    import('@fastify/otel'),
    import('@opentelemetry/instrumentation-undici'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  const sdk = new NodeSDK({
    // A default name only: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, detected later, take precedence.
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'nim-rag-service' })),
    // Traces only: the service's metrics are Prometheus' (/metrics) and its logs pino's JSON lines.
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        // The request alone: its context already reaches the handler, and a span for each of the app's dozen hooks (or the handler) would cost more than it tells.
        instrumentHooks: false,
        instrumentHandler: false,
        // Named by route, as HTTP server spans are; a request no route matched by its method alone, not by a path anyone may make up.
        requestHook: (span, request) => span.updateName(request.routeOptions.url ? `${request.method} ${request.routeOptions.url}` : request.method),
      }),
      new UndiciInstrumentation(),
      // Queries made for a request or a traced job; the job poller's idle polls would each be a trace of their own.
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  markTracingStarted();
  return { shutdown: () => sdk.shutdown() };
}
