import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';

/**
 * npm test's runner: node:test's run() on the files given, `--test-concurrency` at a time, the
 * slowest first (as test/durations.json last measured them in this lane), so that no long file
 * starts last and leaves the other core idle while it finishes; node --test runs them in name
 * order, which put the slowest suites at the end. Files it has no time for yet run first.
 * `--record` writes this run's times per file into test/durations.json for this lane.
 * Test processes inherit this process's Node flags (tsx's loader among them).
 */

const DURATIONS_FILE = new URL('../test/durations.json', import.meta.url);
type Durations = Record<string, Record<string, number>>;

const args = process.argv.slice(2);
const record = args.includes('--record');
const concurrency = Number(args.find((arg) => arg.startsWith('--test-concurrency='))?.split('=')[1] ?? 2);
const files = args.filter((arg) => !arg.startsWith('--'));
const lane = process.env.NIM_RAG_TEST_LANE ?? 'default';

const durations = JSON.parse(readFileSync(DURATIONS_FILE, 'utf8')) as Durations;
const known = durations[lane] ?? {};
const expected = (file: string) => known[file] ?? Number.POSITIVE_INFINITY;
const ordered = [...files].sort((a, b) => expected(b) - expected(a) || a.localeCompare(b));

const started = new Map<string, number>();
const measured: Record<string, number> = {};
const stream = run({ files: ordered, concurrency });
// A file is a test of its own in the runner's events, named by its path as given.
const isFile = (name: string, file: string | undefined) => file !== undefined && resolve(name) === file;
stream.on('test:dequeue', ({ name, file }) => {
  if (isFile(name, file)) started.set(name, performance.now());
});
stream.on('test:complete', ({ name, file }) => {
  const start = started.get(name);
  if (isFile(name, file) && start !== undefined) measured[name] = Math.round((performance.now() - start) / 100) / 10;
});
stream.on('test:fail', ({ todo }) => {
  if (todo === undefined || todo === false) process.exitCode = 1;
});
stream.on('end', () => {
  if (!record) return;
  writeFileSync(DURATIONS_FILE, `${JSON.stringify({ ...durations, [lane]: sortedByKey(measured) }, null, 2)}\n`);
});
stream.compose<NodeJS.ReadableStream>(process.stdout.isTTY ? new spec() : tap).pipe(process.stdout);

function sortedByKey(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).sort(([a], [b]) => a.localeCompare(b)));
}
