// README, "Tests": `npm test` runs the `unit` project (`*.test.ts`, two files at a time) and then `integration`
// (`*.int.test.ts`, one file at a time, servers from test/global-setup.ts). A test file in a folder the unit project
// does not list would never run, in CI or anywhere.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import config from '../vitest.config.ts';
import { REPO_ROOT } from '../core/repo-root.ts';

type Project = { test: { name: string; include: string[]; exclude: string[]; maxWorkers?: number; fileParallelism?: boolean; globalSetup?: string[]; sequence?: { groupOrder?: number } } };
const projects = (config as { test: { projects: Project[] } }).test.projects.map((p) => p.test);
const project = (name: string) => projects.find((p) => p.name === name)!;

function testFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === 'dist' || e.name === 'coverage') continue;
    if (e.isDirectory()) testFiles(join(dir, e.name), out);
    else if (e.name.endsWith('.test.ts')) out.push(relative(REPO_ROOT, join(dir, e.name)));
  }
  return out;
}

describe('npm test', () => {
  it('runs both projects, unit first, unit two files at a time, integration one at a time behind the server setup', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['test']).toBe('vitest run');
    expect(projects.map((p) => p.name).sort()).toEqual(['integration', 'unit']);
    const unit = project('unit');
    const integration = project('integration');
    expect(unit.sequence!.groupOrder!).toBeLessThan(integration.sequence!.groupOrder!);
    expect(unit.maxWorkers).toBe(2);
    expect(unit.exclude).toContain('**/*.int.test.ts');
    expect(integration.fileParallelism).toBe(false);
    expect(integration.include).toEqual(['**/*.int.test.ts']);
    expect(integration.globalSetup).toEqual(['test/global-setup.ts']);
  });

  it('the unit project takes every unit test file of the repository', () => {
    const [pattern] = project('unit').include;
    const folders = /^\{([^}]+)\}\/\*\*\/\*\.test\.ts$/.exec(pattern!);
    expect(folders, `unit include ${pattern} is not {folders}/**/*.test.ts: adjust this test`).not.toBeNull();
    const listed = new Set(folders![1]!.split(','));
    const files = testFiles(REPO_ROOT).filter((f) => !f.endsWith('.int.test.ts'));
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => !listed.has(f.split(/[\\/]/)[0]!))).toEqual([]);
  });
});
