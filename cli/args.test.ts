// The shared command-line parser: strict, every mistake a UsageError naming the flag.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from './command.ts';
import { asUsage, httpUrl, integer, isoDateTime, numberAtLeast, numberWithin, parseFlags, port, positiveNumber, required } from './args.ts';

const SPEC = { file: { type: 'string' }, json: { type: 'boolean' }, vendor: { type: 'string', multiple: true }, format: { type: 'string', short: 'f', needs: 'a format name' } } as const;

describe('parseFlags', () => {
  it('reads separate and inline values, booleans, repeatable flags, short aliases and positionals', () => {
    const r = parseFlags(['pos', '--file', 'a.json', '--json', '--vendor=x', '--vendor', 'y', '-f', 'CSV', '--file', '-'], SPEC, { maxPositionals: 1 });
    expect(r.values).toEqual({ file: '-', json: true, vendor: ['x', 'y'], format: 'CSV' });
    expect(r.positionals).toEqual(['pos']);
    expect(parseFlags(['--', '--json'], SPEC, { maxPositionals: 1 }).positionals).toEqual(['--json']);
    // A minus and a digit is a value: a UTC offset (`reconcile --tz -05:00`) or a negative number.
    expect(parseFlags(['--file', '-05:00', '-f', '-1'], SPEC).values).toEqual({ file: '-05:00', format: '-1' });
  });

  it('refuses unknown flags, missing values, values of booleans and extra positionals, naming the argument', () => {
    const fails = (args: string[], message: RegExp, maxPositionals = 0) => {
      const run = () => parseFlags(args, SPEC, { maxPositionals });
      expect(run).toThrow(UsageError);
      expect(run).toThrow(message);
    };
    fails(['--bogus'], /^unexpected argument "--bogus"$/);
    fails(['--bogus=1'], /^unexpected argument "--bogus"$/);
    fails(['-x'], /^unexpected argument "-x"$/);
    fails(['--file'], /^--file needs a value$/);
    fails(['--file', '--json'], /^--file needs a value$/);
    fails(['--file', '-x'], /^--file needs a value \(to pass "-x", write --file=-x\)$/);
    fails(['--file', '--1'], /^--file needs a value$/);
    fails(['-f'], /^-f needs a format name$/);
    // An empty value is none (`--config=`, an unset shell variable): it read no config file, without a word.
    fails(['--file='], /^--file needs a value$/);
    fails(['--file', ''], /^--file needs a value$/);
    fails(['-f', ''], /^-f needs a format name$/);
    fails(['--vendor', 'x', '--vendor='], /^--vendor needs a value$/);
    fails(['--json=yes'], /^--json takes no value$/);
    fails(['a', 'b'], /^unexpected argument "b"$/, 1);
    fails(['a'], /^unexpected argument "a"$/);
  });
});

describe('value parsers', () => {
  it('httpUrl refuses a value without an http(s) host and does not repeat a user and password in it', () => {
    for (const value of ['http://user:s3cret-pw@', 'http://user:s3cret-pw@ho st/x', 'ftp://user:s3cret-pw@host/']) {
      const message = (() => {
        try {
          httpUrl('--registry', value, 'a URL');
        } catch (err) {
          return (err as UsageError).message;
        }
        return 'taken';
      })();
      expect(message).toMatch(/^--registry needs a URL, got "\w+:\/\/\*\*\*@/);
      expect(message).not.toContain('s3cret');
    }
    expect(httpUrl('--registry', 'http://user:pw@127.0.0.1:8081/apis', 'a URL')).toBe('http://user:pw@127.0.0.1:8081/apis');
  });

  it('httpUrl does not repeat a password in a refused value that is no URL to redact: no scheme, one slash, a raw / or # in it', () => {
    const cases = [
      ['user:s3cret-pw@registry.example:8081', '"***@registry.example:8081"'],
      ['http:/user:s3cret-pw@registry.example', '"***@registry.example"'],
      ['http://user:s3cret/pw@registry.example:8081', '"http://***@registry.example:8081"'],
      ['https://user:s3c#ret@registry.example:x', '"https://***@registry.example:x"'],
    ];
    for (const [value, shown] of cases) {
      expect(() => httpUrl('--registry', value!, 'a URL')).toThrow(`--registry needs a URL, got ${shown}`);
    }
  });

  it('name the flag and the value in their messages', () => {
    expect(integer('--n', '7', { min: 1 })).toBe(7);
    expect(() => integer('--window-sec', '0', { min: 1 })).toThrow('--window-sec needs a positive integer, got "0"');
    expect(() => integer('--port-base', '80', { min: 1024, max: 65000 })).toThrow('--port-base needs an integer 1024..65000, got "80"');
    // Only decimal digits: Number() would read these as 0, 0, 80, 1000 and 1e21.
    for (const text of ['', ' ', '0x50', '1e3', '1000000000000000000000', '7 ', '0b1', '\u0000']) {
      // The value is echoed JSON-quoted: a control character comes back escaped, never raw.
      expect(() => integer('--port', text, { min: 0, max: Infinity })).toThrow(`--port needs an integer 0..Infinity, got ${JSON.stringify(text)}`);
    }
    expect(port('--port', '+80')).toBe(80);
    expect(numberWithin('--s', '2.5e1', 0, 30)).toBe(25);
    expect(numberAtLeast('--s', '-.5', -1)).toBe(-0.5);
    for (const text of ['', ' ', '0x10', '1e', '.', 'Infinity', '1,5']) {
      expect(() => numberAtLeast('--s', text, 0)).toThrow(`--s needs a number ≥ 0, got "${text}"`);
      expect(() => positiveNumber('--s', text)).toThrow(`--s needs a positive number, got "${text}"`);
    }
    expect(() => numberWithin('--s', '31', 0, 30)).toThrow('--s needs a number 0..30, got "31"');
    expect(() => port('--port', '')).toThrow('--port needs a port number, got ""');
    expect(port('--port', '0')).toBe(0);
    expect(() => port('--port', '65536')).toThrow('--port needs a port number, got "65536"');
    expect(() => port('--port', '1.5')).toThrow(UsageError);
    expect(numberAtLeast('--rate', '0.5', 0.001)).toBe(0.5);
    expect(() => numberAtLeast('--rate', 'x', 0.001)).toThrow('--rate needs a number ≥ 0.001, got "x"');
    expect(() => positiveNumber('--rate', '0', 'a positive number of calls per second')).toThrow('--rate needs a positive number of calls per second, got "0"');
    expect(() => positiveNumber('--rps', 'Infinity')).toThrow('--rps needs a positive number, got "Infinity"');
    expect(isoDateTime('--from', '2026-01-01T00:00:00Z').toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(() => isoDateTime('--from', 'yesterday')).toThrow('--from is not an ISO date-time (2026-01-31 or 2026-01-31T08:00:00Z): "yesterday"');
    for (const bad of ['1', '0', '-1', 'March 7', '2024/01/01', ' 2024-01-01', '2024-02-30', '2023-02-29', '2024-13-01', '2024-01-01T24:00Z', '2024-01-01T10:60Z', '2024-01-01Z']) {
      expect(() => isoDateTime('--from', bad), bad).toThrow('--from is not an ISO date-time');
    }
    expect(isoDateTime('--from', '2024-02-29').toISOString()).toBe('2024-02-29T00:00:00.000Z');
    // Years 0-99 are years of their own, not 1900-1999: 0000 and 0004 are leap years, 1900 was not, 0001 is not.
    expect(isoDateTime('--from', '0000-02-29').toISOString()).toBe('0000-02-29T00:00:00.000Z');
    expect(isoDateTime('--from', '0004-02-29T12:00Z').toISOString()).toBe('0004-02-29T12:00:00.000Z');
    expect(() => isoDateTime('--from', '0001-02-29')).toThrow('--from is not an ISO date-time');
    expect(isoDateTime('--from', '2026-01-31T08:00:00.5+08:00').toISOString()).toBe('2026-01-31T00:00:00.500Z');
    expect(() => isoDateTime('--to', undefined)).toThrow('--to is required');
    expect(() => required('--tenant', '')).toThrow('--tenant is required');
    expect(() => asUsage(() => { throw new Error('not read-only'); })).toThrow(UsageError);
  });
});

describe('isoDateTime on a machine outside UTC', () => {
  it('reads a time without an offset as UTC, as it reads a date alone: mixing the two forms shifts no range', () => {
    // The parse runs in a child with TZ=Asia/Shanghai (vitest's own TZ is UTC, where the two readings agree).
    const root = fileURLToPath(new URL('../', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-args-tz-'));
    try {
      const script = join(dir, 'parse.mts');
      writeFileSync(
        script,
        [
          `import { isoDateTime } from ${JSON.stringify(pathToFileURL(join(root, 'cli/args.ts')).href)};`,
          `const texts = ['2026-01-31', '2026-01-31T08:00', '2026-01-31T08:00:30.25', '2026-01-31T08:00Z', '2026-01-31T08:00+08:00'];`,
          `console.log(JSON.stringify({ offsetMin: new Date(2026, 0, 31).getTimezoneOffset(), parsed: texts.map((t) => isoDateTime('--from', t).toISOString()) }));`,
        ].join('\n'),
      );
      const r = spawnSync(process.execPath, [join(root, 'bin/run-ts.mjs'), script], { encoding: 'utf8', cwd: root, env: { ...process.env, TZ: 'Asia/Shanghai' }, timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { offsetMin: number; parsed: string[] };
      expect(out.offsetMin).toBe(-480);
      expect(out.parsed).toEqual([
        '2026-01-31T00:00:00.000Z',
        '2026-01-31T08:00:00.000Z',
        '2026-01-31T08:00:30.250Z',
        '2026-01-31T08:00:00.000Z',
        '2026-01-31T00:00:00.000Z',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
