import { type Attributes, type Span, SpanStatusCode, trace } from '@opentelemetry/api';

/** The service's own spans (the chain's steps); without a tracer provider (tracing off) every span is a no-op. */
const tracer = trace.getTracer('nim-rag-service');

let started = false;

/** Said by startTracing once the SDK runs. */
export function markTracingStarted(): void {
  started = true;
}

/** Whether this process traces: a step whose wrapping costs something even around a no-op span is wrapped only then. */
export const tracingStarted = (): boolean => started;

/**
 * Runs `work` in a span of its own, the active one for whatever `work` calls (NIM requests,
 * queries), so that those become its children; a failure is recorded on it and thrown on.
 */
export function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
