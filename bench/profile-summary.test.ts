import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { summarizeProfile } from './profile-summary.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cdrflow-profile-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9 });
/** 10 ms idle, 30 ms in avsc, 60 ms in the mapping, and 10 ms on a sample naming no node. */
const profile = {
  nodes: [
    { id: 1, callFrame: frame('(idle)', '') },
    { id: 2, callFrame: frame('writeString', 'file:///x/node_modules/avsc/lib/utils.js') },
    { id: 3, callFrame: frame('mapHuawei', 'file:///x/transforms/normalize/vendors/huawei.ts') },
  ],
  samples: [1, 2, 3, 3, 2, 3, 99],
  timeDeltas: [10_000, 15_000, 30_000, 30_000, 15_000, 0, 10_000],
};

function summary(args: string[]) {
  return spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/profile-summary.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
}

describe('profile-summary', () => {
  it('splits busy time by area and by function, idle apart, and counts a sample naming no node', () => {
    const text = summarizeProfile('p', profile, 2);
    expect(text).toContain('p: 0.11 s sampled, 0.10 s busy (not idle)');
    expect(text).toContain(' 60.0%  normalize mapping');
    expect(text).toContain(' 30.0%  avsc');
    expect(text).toContain(' 10.0%  native: (unknown node)');
    expect(text).toContain('  idle:   9.1% of all sampled time');
    const top = text.slice(text.indexOf('top functions'));
    expect(top.split('\n').slice(1)).toEqual(['   60.0%  mapHuawei transforms/normalize/vendors/huawei.ts:10', '   30.0%  writeString avsc/lib/utils.js:10']);
  });

  it('answers a bad command line or a file that is not a profile with one line, not a stack', () => {
    const notJson = join(dir, 'notes.txt');
    writeFileSync(notJson, '# not\na profile\n');
    const notProfile = join(dir, 'other.json');
    writeFileSync(notProfile, JSON.stringify({ nodes: 'x' }));
    const good = join(dir, 'good.cpuprofile');
    writeFileSync(good, JSON.stringify(profile));
    const cases: [string[], number, RegExp][] = [
      [[], 64, /^profile-summary: a \.cpuprofile file is required\nusage:/],
      [[good, 'ten'], 64, /^profile-summary: top needs an integer 1\.\.10000, got "ten"/],
      [[good, '5', 'extra'], 64, /^profile-summary: unexpected argument "extra"/],
      [[join(dir, 'missing.cpuprofile')], 1, /^profile-summary: .*missing\.cpuprofile: ENOENT/],
      [[notJson], 1, /^profile-summary: .*notes\.txt: .*not valid JSON\n$/],
      [[notProfile], 1, /^profile-summary: .*other\.json: not a CPU profile/],
    ];
    for (const [args, status, stderr] of cases) {
      const r = summary(args);
      expect(r.status, args.join(' ')).toBe(status);
      expect(r.stderr, args.join(' ')).toMatch(stderr);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
    }
    const ok = summary([good, '1']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('60.0%  mapHuawei');
    expect(ok.stdout).not.toContain('writeString');
  });
});
