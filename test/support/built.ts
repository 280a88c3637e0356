import { execFile } from 'node:child_process';
import { mkdir, open, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitForLock } from 'fs-native-extensions';

/*
 * Tests that start the service or the CLI as a process of its own run what `npm run build` makes
 * (node dist/server.js, the image's CMD; dist/cli/nim-rag.js, the package's bin), not the sources
 * through tsx: compiling the server through tsx at every start cost about a second and a half of a
 * shared core, and the crash, replica and job suites start dozens of processes. The first test that
 * needs an entry point builds once, under a lock, when a source is newer than the last build made here;
 * the test files that run beside it wait for that build.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);

/** What the build reads: the service's and the package's sources, the playground's, and their build settings. */
const SOURCES = ['src', 'packages/langchain-nvidia/src', 'web', 'tsconfig.json', 'tsconfig.build.json', 'packages/langchain-nvidia/tsconfig.build.json'];
/** Touched after each build made here: a source newer than it means the build is out of date. */
const STAMP = join(ROOT, 'dist', '.built-for-tests');
const LOCK = join(ROOT, 'dist', '.build-lock');

/** The stamp and the lock this module keeps in dist/: not part of what the build makes. */
export const isTestBuildFile = (path: string): boolean => path === STAMP || path === LOCK;

async function newestChange(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(path, { withFileTypes: true, recursive: true });
  const times = await Promise.all(entries.filter((entry) => entry.isFile()).map(async (entry) => (await stat(join(entry.parentPath, entry.name))).mtimeMs));
  return Math.max(info.mtimeMs, ...times);
}

async function isCurrent(): Promise<boolean> {
  const built = await stat(STAMP).then((info) => info.mtimeMs, () => 0);
  const changed = await Promise.all(SOURCES.map((source) => newestChange(join(ROOT, source))));
  return built > Math.max(...changed);
}

/** Builds under a lock on a file (let go when it is closed), so that test files running side by side do not compile over each other. */
async function build(): Promise<void> {
  await mkdir(join(ROOT, 'dist'), { recursive: true });
  const lock = await open(LOCK, 'a');
  try {
    await waitForLock(lock.fd);
    if (await isCurrent()) return;
    const started = new Date();
    await execFileAsync('npm', ['run', 'build'], { cwd: ROOT, timeout: 300_000 });
    await writeFile(STAMP, '');
    // Stamped with the build's start, so that a source saved during the build counts as newer.
    await utimes(STAMP, started, started);
  } finally {
    await lock.close();
  }
}

let ready: Promise<void> | undefined;

/** The path of a compiled entry point under dist/, built first if the sources have changed since. */
export async function builtEntry(entry: 'server.js' | 'cli/nim-rag.js'): Promise<string> {
  ready ??= isCurrent().then((current) => (current ? undefined : build()));
  await ready;
  return join(ROOT, 'dist', entry);
}
