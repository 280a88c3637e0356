import { execFile } from 'node:child_process';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { progress, REPOSITORY_ROOT, temporaryDir } from './support.js';

const run = promisify(execFile);
const TSC = join(REPOSITORY_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const PACKAGE_BUILD = join('packages', 'langchain-nvidia', 'tsconfig.build.json');

/**
 * The service and its workspace package as committed at `ref`, in a scratch directory, with the
 * repository's installed dependencies linked in — except the workspace package, which is its own
 * (built here), so a benchmark can run "before" and "after" side by side in one run.
 */
export async function checkoutTree(ref: string): Promise<string> {
  const root = await temporaryDir(`checkout-${ref.replace(/[^\w.-]/g, '_')}`);
  progress(`checking out ${ref} into ${root}`);
  await run('sh', ['-c', `git archive --format=tar "$0" | tar -x -C "$1"`, ref, root], { cwd: REPOSITORY_ROOT });
  const modules = join(root, 'node_modules');
  await mkdir(join(modules, '@nim-rag'), { recursive: true });
  for (const entry of await readdir(join(REPOSITORY_ROOT, 'node_modules'))) {
    if (entry !== '@nim-rag') await symlink(join(REPOSITORY_ROOT, 'node_modules', entry), join(modules, entry));
  }
  await symlink(join(root, 'packages', 'langchain-nvidia'), join(modules, '@nim-rag', 'langchain-nvidia'));
  // The service runs on the package's dist, as any user would.
  await run(process.execPath, [TSC, '-b', PACKAGE_BUILD], { cwd: root });
  return root;
}
