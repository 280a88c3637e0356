import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/*
 * Tests that start the service or the CLI as a process of its own run what `npm run build` makes
 * (node dist/server.js, the image's CMD; dist/cli/nim-rag.js, the package's bin), not the sources
 * through tsx: compiling the server through tsx at every start cost about a second and a half of a
 * shared core, and the crash, replica and job suites start dozens of processes. The build is brought
 * up to date once per test file by scripts/build-if-stale.mjs, the check `npm start` makes too.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let ready: Promise<unknown> | undefined;

/** The path of a compiled entry point under dist/, built first if the sources have changed since. */
export async function builtEntry(entry: 'server.js' | 'cli/nim-rag.js'): Promise<string> {
  ready ??= promisify(execFile)(process.execPath, [join(ROOT, 'scripts/build-if-stale.mjs')], { cwd: ROOT, timeout: 300_000 });
  await ready;
  return join(ROOT, 'dist', entry);
}
