// `cdrflow simulate` refuses values that would take the machine before it starts: --history 10000000 took 4 GB in 40 s
// and never listened, --rate 1e9 a whole core with no output (an operator walk).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('cdrflow simulate bounds', () => {
  it.each([
    [['--history', '10000000'], /^cdrflow simulate: --history needs a number 0\.\.1440, got "10000000"/],
    [['--rate', '1e9'], /^cdrflow simulate: --rate needs a number 0\.001\.\.5000, got "1e9"/],
    [['--history', '1440', '--rate', '100'], /^cdrflow simulate: --history 1440 at --rate 100 is 8,640,000 calls at start; at most 2,000,000/],
  ])('%j: usage error, exit 64, nothing started', (flags, message) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'simulate', 'tencent-trtc', ...flags], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/listening/);
  });
});
