import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { PLAYGROUND_DIR } from '../src/routes/playground.js';

const web = fileURLToPath(new URL('../web/', import.meta.url));

/**
 * Bundles web/ into `outDir`: one script and one style sheet named by a hash of their content
 * (so they can be cached for a year), and index.html naming them. Returns the asset names.
 */
export async function buildPlayground(outDir = PLAYGROUND_DIR): Promise<{ script: string; styles: string }> {
  await rm(outDir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { app: join(web, 'main.ts'), styles: join(web, 'styles.css') },
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    minify: true,
    entryNames: '[name]-[hash]',
    outdir: outDir,
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
  const script = outputs.find((name) => name.endsWith('.js'));
  const styles = outputs.find((name) => name.endsWith('.css'));
  if (!script || !styles) throw new Error(`esbuild wrote ${outputs.join(', ')}: no script or style sheet`);
  const page = (await readFile(join(web, 'index.html'), 'utf8')).replace('%SCRIPT%', script).replace('%STYLES%', styles);
  await writeFile(join(outDir, 'index.html'), page);
  return { script, styles };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { script, styles } = await buildPlayground();
  process.stdout.write(`playground: ${PLAYGROUND_DIR} (${script}, ${styles})\n`);
}
