import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { EMBED_MODEL, LLM_MODEL, NimEmulator, RERANK_MODEL } from './support/nim-emulator.js';
import { machineNodeLane } from './support/lanes.js';

const run = promisify(execFile);
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KEY = 'nvapi-readme-examples-key';
const REPLY = 'Komchatka is a peninsula in the Russian Far East.';

/** The complete programs of the README: its ```ts blocks that start with an import. */
async function readmePrograms(): Promise<string[]> {
  const readme = await readFile(join(packageDir, 'README.md'), 'utf8');
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string).filter((code) => code.startsWith('import '));
}

/** The tools the test itself runs (not what the user installs): tsc and tsx, from wherever this checkout installed them. */
async function tool(name: string): Promise<string> {
  for (let dir = packageDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', '.bin', name);
    if (await readFile(candidate).then(() => true, () => false)) return candidate;
    if (dirname(dir) === dir) throw new Error(`no ${name} installed above ${packageDir}`);
  }
}

/** The @langchain/core version this checkout locked, which `npm ci` put in the local npm cache. */
async function lockedCoreVersion(): Promise<string> {
  for (let dir = packageDir; ; dir = dirname(dir)) {
    const lock = await readFile(join(dir, 'package-lock.json'), 'utf8').catch(() => undefined);
    if (lock) return (JSON.parse(lock) as { packages: Record<string, { version: string }> }).packages['node_modules/@langchain/core']?.version as string;
    if (dirname(dir) === dir) throw new Error('no package-lock.json above the package');
  }
}

describe('the packed package, installed with npm into an empty folder with only @langchain/core', machineNodeLane, () => {
  let scratch: string;
  let emulator: NimEmulator;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'langchain-nvidia-user-'));
    emulator = await NimEmulator.start({
      apiKey: KEY,
      models: [EMBED_MODEL, LLM_MODEL, 'meta/llama-3.1-70b-instruct', 'meta/llama-3.2-11b-vision-instruct', RERANK_MODEL],
      reply: () => REPLY,
    });
  });
  after(async () => {
    await emulator.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('packs, installs with npm, type-checks, and runs every README program against the emulator', async () => {
    const [tsc, tsx, coreVersion, programs] = await Promise.all([tool('tsc'), tool('tsx'), lockedCoreVersion(), readmePrograms()]);
    assert.equal(programs.length, 6, 'the README programs this test knows the output of');

    // What prepack does (tsc to dist), here into a copy, so the checkout's own dist/ is left to npm run build.
    const copy = join(scratch, 'package');
    for (const file of ['package.json', 'README.md', 'src']) await cp(join(packageDir, file), join(copy, file), { recursive: true });
    await run(tsc, ['-p', join(packageDir, 'tsconfig.build.json'), '--outDir', join(copy, 'dist'), '--tsBuildInfoFile', join(copy, '.tsbuildinfo')], { cwd: packageDir });
    const { stdout: packed } = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', scratch], { cwd: copy });
    const tarball = join(scratch, packed.trim().split('\n').at(-1) as string);

    const app = join(scratch, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `@langchain/core@${coreVersion}`], { cwd: app });
    const installed = join(app, 'node_modules', '@nim-rag', 'langchain-nvidia');
    assert.deepEqual((await readdir(installed)).sort(), ['README.md', 'dist', 'package.json', 'src']);
    const manifest = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.deepEqual(Object.keys(manifest.dependencies).sort(), ['@langchain/core', '@nim-rag/langchain-nvidia']);

    const files = programs.map((_, index) => `example-${index + 1}.ts`);
    await Promise.all(programs.map((code, index) => writeFile(join(app, files[index] as string), code)));
    const typeRoots = [join(dirname(dirname(tsx)), '@types')];
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2023', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, typeRoots, types: ['node'] }, files }),
    );
    await run(tsc, ['-p', app], { cwd: app });

    const env = { ...process.env, NVIDIA_BASE_URL: emulator.url, NVIDIA_API_KEY: KEY, NODE_NO_WARNINGS: '1' };
    // One process runs them in turn (each finishes its top-level await before the next is imported): one start-up, not six.
    const runner = `for (const file of ${JSON.stringify(files)}) { console.log('=== ' + file); await import('./' + file); }\n`;
    await writeFile(join(app, 'run-examples.ts'), runner);
    const { stdout } = await run(tsx, ['run-examples.ts'], { cwd: app, env });
    const outputs = stdout.split(/^=== example-\d+\.ts\n/m).slice(1);
    assert.equal(outputs.length, programs.length);
    const [quickStart, tools, vision, rerank, serialised, shared] = outputs as [string, string, string, string, string, string];
    assert.match(quickStart, /embedded: 1024 dimensions, 2 passages/);
    assert.match(quickStart, new RegExp(`answer: ${REPLY} \\(\\d+ tokens\\)`));
    assert.match(quickStart, new RegExp(`streamed: ${REPLY}`));
    assert.match(tools, /tool call: \[\{"name":"weather","args":\{"city":"What is the weather in Komchatka\?"\}\}\]/);
    assert.match(tools, /structured: \{"name":"The largest city of Italy","population":25\}/);
    assert.match(tools, /refused: model mistralai\/mixtral-8x7b-instruct-v0\.1 does not support/);
    assert.match(tools, /guided: \{"name":"The largest city of Italy","population":25\}/);
    assert.match(vision, new RegExp(`vision: ${REPLY}`));
    assert.match(rerank, /best: Italy is famous for pasta and pizza\. \(-?\d/);
    assert.match(rerank, /ranked: 1,0/);
    assert.match(serialised, /key in the JSON: false/);
    assert.match(serialised, new RegExp(`loaded: temperature 0.2, ${REPLY}`));
    assert.match(shared, /attempts: 2/);
    const paths = new Set(emulator.requests.map((request) => request.path));
    assert.deepEqual([...paths].sort(), ['/v1/chat/completions', '/v1/embeddings', '/v1/models', '/v1/ranking']);
    assert.ok(emulator.requests.every((request) => request.headers.authorization === `Bearer ${KEY}`));
  });
});
