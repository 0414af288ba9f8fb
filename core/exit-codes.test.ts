// The exit codes have one home (core/exit-codes.ts): the commands name them, the README lists the shared ones.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as codes from './exit-codes.ts';
import { REPO_ROOT } from './repo-root.ts';

const sourceFiles = (dir: string): string[] =>
  readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));

describe('exit codes', () => {
  const numbers = Object.entries(codes as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number');

  it('are distinct within the shared (sysexits) range, and the README lists each of them', () => {
    const shared = numbers.filter(([, code]) => code >= 64);
    expect(new Set(shared.map(([, code]) => code)).size).toBe(shared.length);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const list = readme.slice(readme.indexOf('Exit codes shared by the commands'), readme.indexOf('| command | what it does |'));
    for (const [name, code] of shared) expect(list, name).toMatch(new RegExp(`\\b${code} `));
  });

  it('mean in the README what they mean in the code: each shared code beside its meaning', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const list = readme.slice(readme.indexOf('Exit codes shared by the commands'), readme.indexOf('| command | what it does |')).replace(/\s+/g, ' ');
    const meanings: [number, string][] = [
      [codes.EXIT_USAGE, 'a usage error'],
      [codes.EXIT_DATA_ERROR, 'an input file not in the expected format'],
      [codes.EXIT_NO_INPUT, 'an input file missing'],
      [codes.EXIT_UNAVAILABLE, 'a service not reachable'],
      [codes.EXIT_IO_ERROR, 'output that could not be written'],
      [codes.EXIT_NOT_SETTLED, 'try again later'],
      [codes.EXIT_CONFIG, 'an invalid configuration'],
    ];
    expect(meanings.map(([code]) => code).sort()).toEqual(numbers.filter(([, code]) => code >= 64).map(([, code]) => code).sort());
    for (const [code, meaning] of meanings) expect(list).toContain(`${code} ${meaning}`);
    expect(list).toContain(`${codes.signalExit('SIGINT')} / ${codes.signalExit('SIGTERM')} stopped by SIGINT / SIGTERM`);
  });

  it('are named, not written as numbers, in the commands (0 success and 1 any other error excepted)', () => {
    const literal = /new ExitError\(\s*(?:[2-9]|\d\d)|process\.exit\(\s*(?:[2-9]|\d\d)|return (?:[2-9]|\d\d);|\? (?:[2-9]|\d\d) : 0;/;
    const offenders = ['cli', 'app'].flatMap(sourceFiles).filter((file) => literal.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
