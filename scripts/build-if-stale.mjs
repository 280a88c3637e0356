#!/usr/bin/env node
// `npm start` and the tests that start dist/ build through here: `npm run build` bundles the
// playground and starts tsc twice on every call (about 2 s when nothing changed), so it runs only
// when a file the build reads is newer than the last build made here. Plain JavaScript, so that the
// check itself costs a bare Node start, not a TypeScript loader's.
import { spawn } from 'node:child_process';
import { mkdir, open, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import { waitForLock } from 'fs-native-extensions';

const root = fileURLToPath(new URL('../', import.meta.url));
/** What `npm run build` reads: the service's, the package's and the playground's sources, the contract, the build scripts and settings. */
const sources = [
  'src',
  'packages/langchain-nvidia/src',
  'web',
  'scripts/build-playground.ts',
  'scripts/build-contract.ts',
  'openapi.yaml',
  'tsconfig.json',
  'tsconfig.build.json',
  'packages/langchain-nvidia/tsconfig.build.json',
];
/** Touched after each build made here; it lives in dist/, so a removed dist/ is out of date too. */
const stamp = join(root, 'dist', '.build-stamp');

/** @param {string} path */
async function newestChange(path) {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(path, { withFileTypes: true, recursive: true });
  const files = entries.filter((entry) => entry.isFile());
  const times = await Promise.all(files.map(async (entry) => (await stat(join(entry.parentPath, entry.name))).mtimeMs));
  return Math.max(info.mtimeMs, ...times);
}

async function isCurrent() {
  const built = await stat(stamp).then((info) => info.mtimeMs, () => 0);
  const changed = await Promise.all(sources.map((source) => newestChange(join(root, source))));
  return built > Math.max(...changed);
}

if (!(await isCurrent())) {
  await mkdir(join(root, 'dist'), { recursive: true });
  // Test files running side by side wait here for one build rather than compiling over each other.
  const lock = await open(join(root, 'dist', '.build-lock'), 'a');
  try {
    await waitForLock(lock.fd);
    if (!(await isCurrent())) {
      const started = new Date();
      const build = spawn('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
      /** @type {number | null} */
      const code = await new Promise((resolve) => build.once('exit', resolve));
      if (code !== 0) process.exit(code ?? 1);
      await writeFile(stamp, '');
      // Stamped with the build's start, so that a source saved during the build counts as newer.
      await utimes(stamp, started, started);
    }
  } finally {
    await lock.close();
  }
}
