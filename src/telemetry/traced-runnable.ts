import type { Attributes } from '@opentelemetry/api';
import { type Runnable, RunnableLambda, type RunnableConfig } from '@langchain/core/runnables';
import { inSpan } from './spans.js';

/**
 * A chain step in a span of its own (see inSpan): the runnable, invoked as it would be, with the
 * span active while it runs, so that the NIM calls it makes are the span's children.
 */
export function tracedRunnable<I, O>(name: string, runnable: Runnable<I, O>, attributes: Attributes = {}): Runnable<I, O> {
  return RunnableLambda.from((input: I, config?: RunnableConfig) => inSpan(name, attributes, () => runnable.invoke(input, config))).withConfig({
    runName: name,
  });
}
