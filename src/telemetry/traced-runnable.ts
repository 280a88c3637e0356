import type { Attributes } from '@opentelemetry/api';
import { type Runnable, RunnableLambda, type RunnableConfig } from '@langchain/core/runnables';
import { inSpan, tracingStarted } from './spans.js';

/**
 * A chain step in a span of its own (see inSpan): the runnable, invoked as it would be, with the
 * span active while it runs, so that the NIM calls it makes are the span's children. Without
 * tracing it is the runnable itself: the extra LangChain run would cost each answer for nothing.
 */
export function tracedRunnable<I, O>(name: string, runnable: Runnable<I, O>, attributes: Attributes = {}): Runnable<I, O> {
  if (!tracingStarted()) return runnable;
  return RunnableLambda.from((input: I, config?: RunnableConfig) => inSpan(name, attributes, () => runnable.invoke(input, config))).withConfig({
    runName: name,
  });
}
