import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Lane, laneSkip, type PinnedTo } from './support/lanes.js';

/** In how many of npm test's lanes a suite pinned to `pinned` runs, on a machine where test:lts can run or not. */
function lanesRunning(pinned: PinnedTo, ltsLaneRuns: boolean): Lane[] {
  // Where test:lts cannot run, its script exits before any test: only test:node's lane exists.
  const lanes: Lane[] = ltsLaneRuns ? ['machine', 'lts'] : ['machine'];
  return lanes.filter((lane) => laneSkip(pinned, { lane, ltsLaneRuns }) === false);
}

describe('test lanes', () => {
  it('run every pinned suite in exactly one lane of npm test, wherever test:lts can run or not', () => {
    // The lanes are told apart by NIM_RAG_TEST_LANE, not by the Node version: a machine whose own
    // Node is 24 runs both lanes on Node 24, which once skipped the machine's suites in both.
    assert.deepEqual(lanesRunning('image', true), ['lts']);
    assert.deepEqual(lanesRunning('machine', true), ['machine']);
    assert.deepEqual(lanesRunning('image', false), ['machine']);
    assert.deepEqual(lanesRunning('machine', false), ['machine']);
  });

  it('say why a suite is skipped, and skip nothing in a file run on its own', () => {
    assert.match(laneSkip('image', { lane: 'machine', ltsLaneRuns: true }) || '', /Node 24 LTS/);
    assert.match(laneSkip('machine', { lane: 'lts', ltsLaneRuns: true }) || '', /this machine's Node/);
    for (const pinned of ['image', 'machine'] as const) {
      for (const ltsLaneRuns of [true, false]) assert.equal(laneSkip(pinned, { lane: undefined, ltsLaneRuns }), false);
    }
  });
});
