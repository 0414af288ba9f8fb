// When bin/cdrflow.mjs may run the compiled copy in dist/: only while no source is newer than the build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { distIsFresh, newestSourceMtime, sourceDirs } from '../bin/dist-state.mjs';

const root = mkdtempSync(join(tmpdir(), 'cdrflow-dist-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
function touch(path: string, s: number): void {
  writeFileSync(path, '// x\n');
  utimesSync(path, at(s), at(s));
}

describe('dist freshness', () => {
  it('is fresh after a build, stale after an edit, an added file or a missing build', () => {
    writeFileSync(join(root, 'package.json'), '{}');
    utimesSync(join(root, 'package.json'), at(1), at(1));
    for (const d of ['cli', 'simulators', 'node_modules', 'dist']) mkdirSync(join(root, d));
    touch(join(root, 'cli', 'main.ts'), 2);
    touch(join(root, 'simulators', 'x.ts'), 3);
    for (const d of ['cli', 'simulators']) utimesSync(join(root, d), at(3), at(3));
    expect((sourceDirs(root) as string[]).sort()).toEqual(['cli', 'simulators']);
    expect(distIsFresh(root)).toBe(false);
    writeFileSync(join(root, 'dist', 'dist-state.json'), JSON.stringify({ sourceMtime: newestSourceMtime(root) as number }));
    expect(distIsFresh(root)).toBe(true);
    touch(join(root, 'simulators', 'x.ts'), 60);
    expect(distIsFresh(root)).toBe(false);
    writeFileSync(join(root, 'dist', 'dist-state.json'), JSON.stringify({ sourceMtime: newestSourceMtime(root) as number }));
    expect(distIsFresh(root)).toBe(true);
    writeFileSync(join(root, 'cli', 'new.ts'), '// added now\n');
    expect(distIsFresh(root)).toBe(false);
  });
});

describe('dist freshness and benchmark results', () => {
  it('stays fresh when a benchmark writes its results, and goes stale when a benchmark source changes', () => {
    const r = mkdtempSync(join(tmpdir(), 'cdrflow-dist-bench-'));
    try {
      writeFileSync(join(r, 'package.json'), '{}');
      utimesSync(join(r, 'package.json'), at(1), at(1));
      mkdirSync(join(r, 'bench', 'results'), { recursive: true });
      mkdirSync(join(r, 'dist'));
      touch(join(r, 'bench', 'run.ts'), 2);
      for (const d of ['bench/results', 'bench']) utimesSync(join(r, d), at(3), at(3));
      writeFileSync(join(r, 'dist', 'dist-state.json'), JSON.stringify({ sourceMtime: newestSourceMtime(r) as number }));
      expect(distIsFresh(r)).toBe(true);
      writeFileSync(join(r, 'bench', 'results', 'pipeline-1.json'), '{}'); // the results folder's time is now
      expect(distIsFresh(r)).toBe(true);
      writeFileSync(join(r, 'bench', 'new-suite.ts'), '// added now\n');
      expect(distIsFresh(r)).toBe(false);
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });
});

// README ("Installing", "Environment variables"): `cdrflow` runs dist/ while it is current, the TypeScript through tsx
// once a source is newer than the build, and always with CDRFLOW_NO_DIST=1. bin/cdrflow.mjs run in a tree of its own
// whose dist/cli/main.js and cli/main.ts each say which one ran.
describe('bin/cdrflow.mjs', () => {
  it('runs dist/ while it is current, the sources when they are newer or CDRFLOW_NO_DIST=1', () => {
    const tree = mkdtempSync(join(tmpdir(), 'cdrflow bin-')) // a space, as in "My Projects";
    try {
      const repo = fileURLToPath(new URL('../', import.meta.url));
      mkdirSync(join(tree, 'bin'));
      for (const f of ['cdrflow.mjs', 'dist-state.mjs', 'node-version.mjs']) copyFileSync(join(repo, 'bin', f), join(tree, 'bin', f));
      symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'));
      writeFileSync(join(tree, 'package.json'), '{"type": "module"}');
      mkdirSync(join(tree, 'cli'));
      writeFileSync(join(tree, 'cli', 'main.ts'), "const ran: string = 'sources';\nconsole.log(ran);\n");
      mkdirSync(join(tree, 'dist', 'cli'), { recursive: true });
      writeFileSync(join(tree, 'dist', 'cli', 'main.js'), "console.log('dist');\n");
      writeFileSync(join(tree, 'dist', 'dist-state.json'), JSON.stringify({ sourceMtime: newestSourceMtime(tree) as number }));
      const ran = (env: NodeJS.ProcessEnv = {}) => {
        const r = spawnSync(process.execPath, [join(tree, 'bin', 'cdrflow.mjs')], { encoding: 'utf8', env: { PATH: process.env['PATH'], TMPDIR: tmpdir(), ...env } });
        expect(r.stderr).toBe('');
        return r.stdout.trim();
      };
      expect(ran()).toBe('dist');
      expect(ran({ CDRFLOW_NO_DIST: '1' })).toBe('sources');
      expect(ran({ CDRFLOW_NO_DIST: '0' })).toBe('dist');
      // An edit after the build: the sources run until the next build.
      const later = new Date(Date.now() + 60_000);
      utimesSync(join(tree, 'cli', 'main.ts'), later, later);
      expect(ran()).toBe('sources');
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });
});
