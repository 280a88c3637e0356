import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const RUNNER = new URL('../scripts/run-tests.ts', import.meta.url).pathname;

/** npm test's runner on these files, as the lanes run it: this process's Node and its flags (tsx's loader). */
async function runTests(files: string[]): Promise<{ code: number; output: string }> {
  try {
    // Without NODE_TEST_CONTEXT, which tells a test process to report to its parent runner rather than run as one.
    const env: NodeJS.ProcessEnv = { ...process.env, NIM_RAG_TEST_LANE: 'runner-test' };
    delete env.NODE_TEST_CONTEXT;
    const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, RUNNER, ...files], { env });
    return { code: 0, output: stdout };
  } catch (error) {
    const { code, stdout } = error as { code: number; stdout: string };
    return { code, output: stdout };
  }
}

describe("npm test's runner (scripts/run-tests.ts)", () => {
  let dir: string;
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'run-tests-'));
    const imports = "import assert from 'node:assert/strict'; import { test } from 'node:test';";
    await writeFile(file('passes.test.mjs'), `${imports} test('passes', () => assert.equal(1, 1));`);
    await writeFile(file('fails.test.mjs'), `${imports} test('fails', () => assert.equal(1, 2));`);
    await writeFile(file('todo.test.mjs'), `${imports} test.todo('not yet', () => assert.equal(1, 2));`);
    await writeFile(file('throws.test.mjs'), "throw new Error('cannot load');");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('exits 0 when every test passes or is a todo, and runs every file it is given', async () => {
    const { code, output } = await runTests([file('passes.test.mjs'), file('todo.test.mjs')]);
    assert.equal(code, 0, output);
    assert.match(output, /^# pass 1$/m);
    assert.match(output, /^# todo 1$/m);
  });

  it('exits 1 when a test fails or a file cannot load, beside files that pass', async () => {
    for (const failing of ['fails.test.mjs', 'throws.test.mjs']) {
      const { code, output } = await runTests([file('passes.test.mjs'), file(failing)]);
      assert.equal(code, 1, `${failing}: ${output}`);
      assert.match(output, /^# pass 1$/m);
      assert.match(output, /^# fail 1$/m);
    }
  });
});
