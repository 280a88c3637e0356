import assert from 'node:assert/strict';
import { it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { RunnableLambda } from '@langchain/core/runnables';
import { inSpan, tracingStarted } from '../../src/telemetry/spans.js';
import { tracedRunnable } from '../../src/telemetry/traced-runnable.js';

it('without tracing, a chain step is the runnable itself and a span records nothing (test/telemetry/tracing.test.ts has it on)', async () => {
  assert.equal(tracingStarted(), false);
  const step = RunnableLambda.from((text: string) => text.toUpperCase());
  assert.equal(tracedRunnable('rag.generate', step), step);
  const recording = await inSpan('rag.retrieve', {}, async (span) => [span.isRecording(), trace.getActiveSpan()?.isRecording() ?? false]);
  assert.deepEqual(recording, [false, false]);
  await assert.rejects(
    inSpan('rag.retrieve', {}, async () => {
      throw new Error('store down');
    }),
    /store down/,
  );
});
