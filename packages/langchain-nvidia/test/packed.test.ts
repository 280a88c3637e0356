import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { machineNodeLane } from '../../../test/support/lanes.js';
import { LLM_MODEL, NimEmulator, RERANK_MODEL } from './support/nim-emulator.js';

const run = promisify(execFile);
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoModules = resolve(packageDir, '../../node_modules');
/** What the tarball needs at run time: its dependencies and its peer, @langchain/core, with theirs. */
const RUNTIME = ['@langchain/core', 'undici', 'async-mutex', 'eventsource-parser'];

/** A user's program: a few lines of TypeScript that import the package by name, and nothing of the service. */
const PROGRAM = `
import { ChatNVIDIA, NVIDIAEmbeddings, NVIDIARerank } from '@nim-rag/langchain-nvidia';
import { Document } from '@langchain/core/documents';

const url = process.env.NIM_URL as string;
const embeddings = new NVIDIAEmbeddings({ baseUrl: url, model: 'NV-Embed-QA' });
const chat = new ChatNVIDIA({ baseUrl: url, model: '${LLM_MODEL}', maxTokens: 32 });
const reranker = new NVIDIARerank({ baseUrl: url, model: '${RERANK_MODEL}', topN: 1 });

const vector: number[] = await embeddings.embedQuery('What kinds of food is Italy known for?');
const answer = await chat.invoke('Say hello');
let streamed = '';
for await (const chunk of await chat.stream('Say hello')) streamed += chunk.text;
const [best] = await reranker.compressDocuments(
  [new Document({ pageContent: 'Komchatka is cold.' }), new Document({ pageContent: 'Italy is famous for pasta and pizza.' })],
  'What kinds of food is Italy known for?',
);
process.stdout.write(JSON.stringify({ dimensions: vector.length, answer: answer.text, streamed, best: best?.pageContent }));
await Promise.all([embeddings.close(), chat.close(), reranker.close()]);
`;

describe('the packed package, installed outside the repository', machineNodeLane, () => {
  let scratch: string;
  let emulator: NimEmulator;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'langchain-nvidia-user-'));
    emulator = await NimEmulator.start({ reply: () => 'Hello from the NIM.' });
  });
  after(async () => {
    await emulator.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('builds with npm pack, and its tarball embeds, chats, streams and reranks from a plain TypeScript program', async () => {
    // What prepack does (tsc to dist), here into a copy, so the checkout's own dist/ is left to npm run build.
    const copy = join(scratch, 'package');
    for (const file of ['package.json', 'README.md', 'src']) await cp(join(packageDir, file), join(copy, file), { recursive: true });
    await run(join(repoModules, '.bin', 'tsc'), ['-p', join(packageDir, 'tsconfig.build.json'), '--outDir', join(copy, 'dist'), '--tsBuildInfoFile', join(copy, '.tsbuildinfo')], { cwd: packageDir });
    const { stdout: packed } = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', scratch], { cwd: copy });
    const tarball = join(scratch, packed.trim().split('\n').at(-1) as string);
    const installed = join(scratch, 'node_modules', '@nim-rag', 'langchain-nvidia');
    await mkdir(installed, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
    assert.deepEqual((await readdir(installed)).sort(), ['README.md', 'dist', 'package.json', 'src']);
    // The dependencies as npm would install them, taken from this repository's install so that no registry is needed.
    for (const name of RUNTIME) {
      await mkdir(dirname(join(scratch, 'node_modules', name)), { recursive: true });
      await symlink(join(repoModules, name), join(scratch, 'node_modules', name), 'dir');
    }
    await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
    await writeFile(join(scratch, 'main.ts'), PROGRAM);
    await writeFile(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2023', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['main.ts', 'env.d.ts'] }),
    );
    await writeFile(join(scratch, 'env.d.ts'), 'declare const process: { env: Record<string, string | undefined>; stdout: { write(text: string): void } };\n');

    await run(join(repoModules, '.bin', 'tsc'), ['-p', scratch], { cwd: scratch });
    const { stdout } = await run(join(repoModules, '.bin', 'tsx'), ['main.ts'], { cwd: scratch, env: { ...process.env, NIM_URL: emulator.url } });
    assert.deepEqual(JSON.parse(stdout), {
      dimensions: 1024,
      answer: 'Hello from the NIM.',
      streamed: 'Hello from the NIM.',
      best: 'Italy is famous for pasta and pizza.',
    });
    assert.deepEqual(
      [...new Set(emulator.requests.map((request) => request.path))].sort(),
      ['/v1/chat/completions', '/v1/embeddings', '/v1/ranking'],
    );
  });
});
