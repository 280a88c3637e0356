/*
 * `npm test` runs the suite twice: on this machine's Node (`test:node`) and on Node 24 LTS
 * (`test:lts`, Linux x86-64 only), the Node of the production image. The few suites that cost the
 * most run once, in the lane they are about, so the whole command stays within its time budget.
 *
 * Each lane says which it is (NIM_RAG_TEST_LANE, set by the npm scripts), so the choice does not
 * depend on the Node version: on a machine whose own Node is 24, both lanes run Node 24 and each
 * suite still runs in exactly one of them. A file run on its own (`npx tsx --test file`) is in no
 * lane and runs everything it holds.
 */

export type Lane = 'machine' | 'lts' | undefined;
export type PinnedTo = 'image' | 'machine';

export interface LaneInputs {
  /** The lane this process runs in; undefined when it runs outside `npm test`. */
  lane: Lane;
  /** Whether `test:lts` can run here at all (it fetches Node 24 for Linux x86-64). */
  ltsLaneRuns: boolean;
}

/** Whether a suite pinned to `pinned` runs in the lane described by `inputs`, or why it is skipped there. */
export function laneSkip(pinned: PinnedTo, { lane, ltsLaneRuns }: LaneInputs): string | false {
  if (lane === undefined) return false;
  if (pinned === 'machine') return lane === 'machine' ? false : 'runs once, on this machine\'s Node (npm run test:node)';
  if (lane === 'lts' || !ltsLaneRuns) return false;
  return 'runs once, on Node 24 LTS, the production image\'s Node (npm run test:lts)';
}

function laneOf(value: string | undefined): Lane {
  if (value === undefined || value === '') return undefined;
  if (value === 'machine' || value === 'lts') return value;
  throw new Error(`NIM_RAG_TEST_LANE=${value}: expected machine or lts`);
}

const here: LaneInputs = { lane: laneOf(process.env.NIM_RAG_TEST_LANE), ltsLaneRuns: process.platform === 'linux' && process.arch === 'x64' };

/** For tests of the deployed process (kill -9, replicas, the image's layout): on the image's Node, or in test:node when that lane cannot run. */
export const imageNodeLane = { skip: laneSkip('image', here) } as const;

/**
 * For tests of the newcomer's own commands (npm start, and the nim-rag CLI, which runs on the user's
 * Node, not in the image) and of artefacts whose checks do not depend on the service's Node (the
 * page in Chromium, the packed package, the compose files): on this machine's Node.
 */
export const machineNodeLane = { skip: laneSkip('machine', here) } as const;
