/*
 * `npm test` runs the suite twice: on this machine's Node (`test:node`) and on Node 24 LTS
 * (`test:lts`, Linux x86-64 only), the Node of the production image. The few suites that cost the
 * most run once, in the lane they are about, so the whole command stays within its time budget.
 */

const major = Number(process.versions.node.split('.')[0]);
const ltsLaneRuns = process.platform === 'linux' && process.arch === 'x64';
const onLts = major >= 24;

/** For tests of the deployed process (kill -9, replicas, the image's layout): on the image's Node, or here when that lane cannot run. */
export const imageNodeLane = {
  skip: onLts || !ltsLaneRuns ? false : 'runs once, on Node 24 LTS, the production image\'s Node (npm run test:lts)',
} as const;

/**
 * For tests of the newcomer's own commands (npm start) and of artefacts whose checks do not depend on
 * the service's Node (the page in Chromium, the packed package, the compose files): on this machine's Node.
 */
export const machineNodeLane = {
  skip: onLts && ltsLaneRuns ? 'runs once, on this machine\'s Node (npm run test:node)' : false,
} as const;
