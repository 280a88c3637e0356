import type { Attributes } from '@opentelemetry/api';
import { Runnable, type RunnableConfig } from '@langchain/core/runnables';
import { inSpan, tracingStarted } from './spans.js';

/**
 * The runnable in a span: invoked (or streamed, which a step of this chain does as one invoke)
 * with the caller's config as it is, so that it makes no LangChain run of its own (a RunnableLambda
 * around it would cost each answer a callback run and a context for nothing a trace shows).
 */
class SpanRunnable<I, O> extends Runnable<I, O> {
  lc_namespace = ['nim_rag', 'telemetry'];

  constructor(
    private readonly spanName: string,
    private readonly runnable: Runnable<I, O>,
    private readonly attributes: Attributes,
  ) {
    super();
  }

  invoke(input: I, options?: Partial<RunnableConfig>): Promise<O> {
    return inSpan(this.spanName, this.attributes, () => this.runnable.invoke(input, options));
  }
}

/**
 * A chain step in a span of its own (see inSpan), the active one while it runs, so that the NIM
 * calls it makes are the span's children. Without tracing it is the runnable itself.
 */
export function tracedRunnable<I, O>(name: string, runnable: Runnable<I, O>, attributes: Attributes = {}): Runnable<I, O> {
  return tracingStarted() ? new SpanRunnable(name, runnable, attributes) : runnable;
}
