import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { KeyFileError } from '../../src/auth/key-file.js';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services/create-services.js';
import { builtEntry } from '../support/built.js';
import { capturingLogger, silentLogger, startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';

const FIRST = 'first-key-0123456789abcdef';
const SECOND = 'second-key-0123456789abcdef';
const keysFile = (entries: Array<[name: string, key: string]>) =>
  `keys:\n${entries.map(([name, key]) => `  - {name: ${name}, key: ${key}, scopes: [read], collections: ["*"]}`).join('\n')}\n`;

async function until(what: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

describe('keys file reload', () => {
  let test: TestApp;
  let dir: string;
  let file: string;
  const { logger, lines } = capturingLogger('info');
  const status = async (key: string) =>
    (await test.app.inject({ method: 'GET', url: '/v1/collections', headers: { authorization: `Bearer ${key}` } })).statusCode;

  before(async () => {
    dir = await temporaryDir('rag-keys-');
    file = join(dir, 'keys.yaml');
    await writeFile(file, keysFile([['first', FIRST]]));
    test = await startTestApp({ API_KEYS_FILE: file }, undefined, logger);
  });
  after(() => test.close());

  it('takes a changed file without a restart, also when it is replaced by a rename', async () => {
    assert.deepEqual([await status(FIRST), await status(SECOND)], [200, 401]);
    await writeFile(file, keysFile([['first', FIRST], ['second', SECOND]]));
    await until(async () => (await status(SECOND)) === 200);
    // As editors and Kubernetes do: a new file renamed over the old one.
    await writeFile(join(dir, 'keys.yaml.new'), keysFile([['second', SECOND]]));
    await rename(join(dir, 'keys.yaml.new'), file);
    await until(async () => (await status(FIRST)) === 401);
    assert.equal(await status(SECOND), 200);
  });

  it('keeps the keys it has when the new file is malformed, and logs why', async () => {
    const mark = lines.length;
    await writeFile(file, 'keys:\n  - {name: broken, scopes: [read, delete], collections: []}\n  - {name: other, key: secret-in-a-broken-file, scopes: [admin], collections: [], extra: 1}\n');
    await until(async () => lines.slice(mark).some((line) => line.level === 50));
    const logged = lines.slice(mark).find((line) => line.level === 50) as Record<string, any>;
    assert.match(logged.msg, /API_KEYS_FILE not reloaded, keeping the keys loaded before/);
    assert.ok(logged.problems.some((problem: string) => /keys\.0\.scopes\.1: must be one of read, write, admin/.test(problem)), logged.problems);
    assert.deepEqual(logged.kept, ['second']);
    assert.equal(await status(SECOND), 200, 'the old keys still work');
    assert.ok(!JSON.stringify(lines).includes('secret-in-a-broken-file'), 'no key of the file in the logs');
    assert.ok(logged.problems.some((problem: string) => /keys\.1: Unrecognized key: "extra"/.test(problem)), logged.problems);
    // A file written beside it changes the folder again; the same refused file is not reported twice.
    await writeFile(join(dir, 'beside.txt'), 'x');
    await sleep(200);
    assert.equal(lines.slice(mark).filter((line) => line.level === 50).length, 1);
  });

  it('reads the file again on SIGHUP', async () => {
    // Behind a link into a folder that is not watched, so that only the signal can bring the change.
    const hidden = join(dir, 'hidden');
    await mkdir(hidden);
    await writeFile(join(hidden, 'keys.yaml'), keysFile([['first', FIRST]]));
    const linkDir = await temporaryDir('rag-keys-link-');
    await symlink(join(hidden, 'keys.yaml'), join(linkDir, 'keys.yaml'));
    const signalled = await startTestApp({ API_KEYS_FILE: join(linkDir, 'keys.yaml') });
    try {
      const get = async (key: string) =>
        (await signalled.app.inject({ method: 'GET', url: '/v1/collections', headers: { authorization: `Bearer ${key}` } })).statusCode;
      assert.equal(await get(SECOND), 401);
      await writeFile(join(hidden, 'keys.yaml'), keysFile([['second', SECOND]]));
      process.kill(process.pid, 'SIGHUP');
      await until(async () => (await get(SECOND)) === 200);
      assert.equal(await get(FIRST), 401);
    } finally {
      await signalled.close();
    }
  });

  it('refuses to start on a malformed or missing file, naming the file and each problem', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'keys:\n  - name: a\n    key: short\n    scopes: [read]\n    collections: ["*"]\n  - name: a\n    sha256: "00"\n    scopes: [read]\n    collections: ["app b"]\n');
    const attempt = async (path: string) => {
      const config = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: await temporaryDir(), API_KEYS_FILE: path });
      const services = await createServices(config, silentLogger);
      try {
        return await buildApp({ config, services, logger: silentLogger }).then(
          () => assert.fail('started'),
          (error: unknown) => error,
        );
      } finally {
        await services.close();
      }
    };
    const malformed = await attempt(bad);
    assert.ok(malformed instanceof KeyFileError);
    assert.match(malformed.message, new RegExp(`^API_KEYS_FILE ${bad} cannot be used:`));
    assert.match(malformed.message, /keys\.0\.key: must be at least 16 characters/);
    assert.match(malformed.message, /keys\.1\.sha256: must be the 64 hex digits/);
    assert.match(malformed.message, /keys\.1\.collections\.0: must be a collection name/);
    await writeFile(bad, 'keys:\n  - {name: a, scopes: [read], collections: ["*"]}\n');
    assert.match(String(await attempt(bad)), /keys\.0\.key: give exactly one of key or sha256/);
    await writeFile(bad, 'keys: [\n');
    assert.match(String(await attempt(bad)), /cannot be used:\n {2}- Flow sequence in block collection .* at line 2, column 1$/);
    assert.match(String(await attempt(join(dir, 'absent.yaml'))), /absent\.yaml cannot be used:\n {2}- cannot be read \(ENOENT\)/);
  });

  it('the service process exits 1 on a malformed file, saying why', async () => {
    const bad = join(dir, 'bad-for-process.yaml');
    await writeFile(bad, 'keys:\n  - {name: a, key: 0123456789abcdef0123, scopes: [reed], collections: ["*"]}\n');
    const server = await builtEntry('server.js');
    const run = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, [server], { env: { ...process.env, PORT: '0', DATA_DIR: dir, API_KEYS_FILE: bad, LOG_LEVEL: 'info', NODE_ENV: 'production' } }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
      );
    });
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /API_KEYS_FILE \S+bad-for-process\.yaml cannot be used:\\n {2}- keys\.0\.scopes\.0: must be one of read, write, admin/);
  });
});
