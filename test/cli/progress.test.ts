import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { builtEntry } from '../support/built.js';
import { after, before, describe, it } from 'node:test';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';
import { machineNodeLane } from '../support/lanes.js';

/** The package's bin, compiled, as `npm install` links it. */
const CLI = await builtEntry('cli/nim-rag.js');
const FILES = 6;

/** util-linux's `script`, which runs a command on a pseudo-terminal: what the CLI sees when a person runs it. */
const script = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** Runs the CLI with `args`; on a terminal (under `script`, stdout and stderr both the terminal's) or with pipes. */
function nimRag(args: string[], options: { cwd: string; env: Record<string, string>; terminal: boolean }): Promise<{ code: number; output: string }> {
  const command = [process.execPath, CLI, ...args];
  const [file, argv] = options.terminal ? ['script', ['-qfec', command.map(quote).join(' '), '/dev/null']] : [command[0] as string, command.slice(1)];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: options.cwd, env: { ...process.env, ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: options.terminal ? stdout : stderr }),
    );
  });
}

describe('the nim-rag CLI\'s progress while it follows a job', machineNodeLane, () => {
  let nim: NimEmulator;
  let test: TestApp;
  let folder: string;
  let env: Record<string, string>;

  before(async () => {
    // Slow enough that every file is read before the first one is stored, so progress shows work left.
    nim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 60, maxConcurrentEmbeddings: 1 });
    // Markdown is read in microseconds: extraction threads would only add their start-up here.
    test = await startTestApp({ NIM_EMBEDDINGS_URL: nim.url, LLM_PROVIDER: 'local', CHUNK_SIZE: '200', CHUNK_OVERLAP: '0', FILE_EXTRACT_THREADS: '0' });
    env = { NIM_RAG_URL: await test.app.listen({ port: 0, host: '127.0.0.1' }) };
    folder = await temporaryDir('rag-cli-progress-');
    for (const part of ['tty', 'plain']) {
      await mkdir(join(folder, part));
      for (let n = 0; n < FILES; n++) {
        const text = Array.from({ length: 6 }, (_, line) => `Line ${line} of ${part} note ${n}: about the ${part}${n} harbour and its cranes.`).join('\n\n');
        await writeFile(join(folder, part, `note-${n}.md`), `# ${part} note ${n}\n\n${text}\n`);
      }
    }
  });
  after(async () => {
    await test.close();
    await nim.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('on a terminal: a bar redrawn in place with files, chunks, rate and ETA, and a line per file', { skip: !script && 'util-linux `script` is not installed' }, async () => {
    const run = await nimRag(['ingest', 'tty'], { cwd: folder, env, terminal: true });
    assert.equal(run.code, 0, run.output);
    const redraws = run.output.split('\r\x1b[2K').slice(1);
    const bars = redraws.map((text) => /^\[([#.]{24})\] files (\d+)\/(\d+) chunks (\d+)\/(\d+) ([\d.]+) chunks\/s( ETA \d+(?:m\d+)?s)?$/.exec(text)).filter((match) => match !== null);
    assert.ok(bars.length >= 3, `bars drawn: ${JSON.stringify(redraws)}`);
    assert.ok(bars.every((bar) => bar[3] === String(FILES)));
    assert.ok(bars.some((bar) => bar[7] !== undefined && Number(bar[4]) > 0 && Number(bar[4]) < Number(bar[5])), `an ETA while chunks are left: ${JSON.stringify(redraws)}`);
    const last = bars.at(-1) as RegExpExecArray;
    assert.deepEqual([last[1], last[2], last[4] === last[5]], ['#'.repeat(24), String(FILES), true]);
    for (let n = 0; n < FILES; n++) assert.match(run.output, new RegExp(`tty/note-${n}\\.md \\(note-${n}\\.md\\): created, \\d+ chunks\\r\\n`));
    assert.match(run.output, /done: 6 ingested, 0 failed, 0 unchanged/);
  });

  it('not on a terminal: plain lines, one per file, with no bar and no control characters', async () => {
    const run = await nimRag(['ingest', 'plain'], { cwd: folder, env, terminal: false });
    assert.equal(run.code, 0, run.output);
    const lines = run.output.split('\n');
    assert.deepEqual([lines[0], lines.at(-2), lines.at(-1), lines.length], [`${FILES} files: 0 unchanged, ${FILES} to ingest`, `done: ${FILES} ingested, 0 failed, 0 unchanged`, '', FILES + 3]);
    assert.deepEqual(
      lines.slice(1, -2).map((line) => line.replace(/\d+ chunks$/, 'N chunks')).sort(),
      Array.from({ length: FILES }, (_, n) => `plain/note-${n}.md (note-${n}.md): created, N chunks`),
    );
    for (const control of ['\r', '\x1b', '[#']) assert.ok(!run.output.includes(control), `${JSON.stringify(control)} in ${JSON.stringify(run.output)}`);
  });
});
