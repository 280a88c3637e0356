/*
 * The package's copy of the one lane rule its tests need, from the repository's
 * test/support/lanes.ts (which this package must not import, to be testable on its own): the root
 * `npm test` runs every file on this machine's Node and again on Node 24 LTS (Linux x86-64), and
 * a test of an artefact whose checks do not depend on the Node it runs on runs once, in the first.
 */
const major = Number(process.versions.node.split('.')[0]);
const ltsLaneRuns = process.platform === 'linux' && process.arch === 'x64';

export const machineNodeLane = {
  skip: major >= 24 && ltsLaneRuns ? "runs once, on this machine's Node (npm run test:node)" : false,
} as const;
