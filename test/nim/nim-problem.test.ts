import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NVIDIAError, type NVIDIAErrorKind } from '@nim-rag/langchain-nvidia';
import { nimProblem } from '../../src/nim/nim-problem.js';

const failure = (kind: NVIDIAErrorKind, extra: Partial<ConstructorParameters<typeof NVIDIAError>[0]> = {}) =>
  new NVIDIAError({ kind, model: 'm', url: 'http://nim/v1', nimMessage: 'said so', ...extra });

describe('the package’s NIM failures as this service’s problems', () => {
  it('makes the NIM’s failures 502/503/504 and an over-long input the caller’s 422', () => {
    const statuses = Object.fromEntries(
      (['input-too-long', 'auth', 'model-degraded', 'rate-limited', 'server-error', 'timeout', 'unreachable', 'bad-response'] as const).map((kind) => [
        kind,
        nimProblem(failure(kind)).status,
      ]),
    );
    assert.deepEqual(statuses, {
      'input-too-long': 422,
      auth: 502,
      'model-degraded': 503,
      'rate-limited': 503,
      'server-error': 502,
      timeout: 504,
      unreachable: 503,
      'bad-response': 502,
    });
  });

  it('keeps the words, the model, the NIM status and its Retry-After', () => {
    const problem = nimProblem(failure('rate-limited', { upstreamStatus: 429, retryAfterSeconds: 1.2 }));
    assert.equal(problem.type, '/problems/nim-rate-limited');
    assert.equal(problem.detail, 'the NIM at http://nim/v1 (HTTP 429) is rate limiting model m: said so');
    assert.deepEqual(problem.headers, { 'retry-after': '2' });
    assert.deepEqual(problem.extensions, { model: 'm', upstream_status: 429 });
  });
});
