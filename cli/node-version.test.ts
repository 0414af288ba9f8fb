// bin/cdrflow.mjs refuses a Node.js older than package.json's "engines" by name, before loading anything else.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MIN_NODE_MAJOR, nodeVersionProblem } from '../bin/node-version.mjs';

describe('the Node.js version check', () => {
  it('takes the version package.json promises, and later ones', () => {
    const engines = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe(`>=${MIN_NODE_MAJOR}`);
    for (const v of ['v20.0.0', 'v20.19.5', 'v22.11.0', 'v100.0.0', process.version]) expect(nodeVersionProblem(v), v).toBeNull();
  });

  it('refuses an older one, or one it cannot read, naming what it needs', () => {
    for (const v of ['v18.19.0', 'v19.9.0', 'v8.0.0', 'nonsense', '']) {
      expect(nodeVersionProblem(v), v).toMatch(new RegExp(`^cdrflow needs Node\\.js ${MIN_NODE_MAJOR} or later; this is Node\\.js ${v.replace('.', '\\.')}`));
    }
  });

  it('bin/cdrflow.mjs says so and exits 1 before it loads the command', () => {
    const bin = fileURLToPath(new URL('../bin/cdrflow.mjs', import.meta.url));
    const script = `Object.defineProperty(process, 'version', { value: 'v18.19.0' }); await import(${JSON.stringify(bin)});`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, '--', '--version'], { encoding: 'utf8', timeout: 60_000 });
    expect([r.status, r.stdout, r.stderr.trim()]).toEqual([1, '', `cdrflow needs Node.js ${MIN_NODE_MAJOR} or later; this is Node.js v18.19.0 (${process.execPath})`]);
  });
});
