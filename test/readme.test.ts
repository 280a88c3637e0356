import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_VARIABLES } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README stays true', () => {
  it('opens with the two commands: start on the offline default, and run the whole test suite', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = firstBlock.split('\n').filter(Boolean).map((line) => line.split('#')[0]?.trim());
    assert.deepEqual(commands, ['npm ci && npm start', 'npm ci && npm test']);
  });

  it('CI runs exactly the README test command', () => {
    const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
    assert.match(ci, /^npm ci && npm test$/m);
  });

  it('documents every environment variable the service reads, and no other', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]);
    assert.deepEqual([...documented].sort(), [...CONFIG_VARIABLES].sort());
  });
});
