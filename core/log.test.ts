// The log's text form for a person at a terminal (core/log.ts): what it shows, and what it never passes through.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOG_LEVELS, configureLogging, levelFromEnv, stderrFormatFromEnv, textLine } from './log.ts';

describe('stderrFormatFromEnv', () => {
  it('is text on a terminal, JSON elsewhere, and what LOG_FORMAT says when set', () => {
    expect(stderrFormatFromEnv({}, true)).toBe('text');
    expect(stderrFormatFromEnv({}, false)).toBe('json');
    expect(stderrFormatFromEnv({ LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(stderrFormatFromEnv({ LOG_FORMAT: 'TEXT' }, false)).toBe('text');
    expect(() => stderrFormatFromEnv({ LOG_FORMAT: 'xml' }, true)).toThrow('LOG_FORMAT must be one of json, text, got "xml"');
  });
});

describe('levelFromEnv', () => {
  it('is info unless LOG_LEVEL names one of the levels the README lists; a typo is refused, not taken as silence', () => {
    expect(LOG_LEVELS).toEqual(['debug', 'info', 'warn', 'error']);
    expect(levelFromEnv({})).toBe('info');
    expect(levelFromEnv({ LOG_LEVEL: '' })).toBe('info');
    for (const level of LOG_LEVELS) expect(levelFromEnv({ LOG_LEVEL: level.toUpperCase() })).toBe(level);
    expect(() => levelFromEnv({ LOG_LEVEL: 'verbose' })).toThrow('LOG_LEVEL must be one of debug, info, warn, error, got "verbose"');
    // The value is the environment's: an escape sequence or a megabyte must not reach the terminal as it is.
    expect(() => levelFromEnv({ LOG_LEVEL: `x\u001b[2J${'A'.repeat(1024 * 1024)}` })).toThrow(/^LOG_LEVEL must be one of debug, info, warn, error, got "x\\u001b\[2JA{195}"… \(1048581 chars\)$/);
    expect(() => stderrFormatFromEnv({ LOG_FORMAT: 'x\u202ey' }, true)).toThrow('LOG_FORMAT must be one of json, text, got "x\\u202ey"');
  });
});

describe('textLine', () => {
  it('reads time, level, component, event, then the fields', () => {
    const line = JSON.stringify({ time: '2026-12-06T00:41:07.123Z', level: 'warn', component: 'backfill', event: 'poll.retry', attempt: 3, error: 'socket hang up', range: { from: 1, to: 2 } });
    expect(textLine(`${line}\n`)).toBe('00:41:07Z warn  backfill: poll.retry attempt=3 error="socket hang up" range={"from":1,"to":2}\n');
  });

  it('never passes a control character through: escape sequences from logged input stay escaped', () => {
    const line = JSON.stringify({ time: '2026-12-06T00:41:07Z', level: 'info', event: 'sql.query', ua: 'x\u001b[2Jy', c1: '\u009b31m', del: 'a\u007fb', sep: 'a\u2028b', 'k\u001bey': 1 });
    const text = textLine(line);
    const controls = [...text.slice(0, -1)].filter((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f) || c === '\u2028' || c === '\u2029');
    expect(controls).toEqual([]);
    expect(text).toBe('00:41:07Z info  sql.query ua="x\\u001b[2Jy" c1="\\u009b31m" del="a\\u007fb" sep="a\\u2028b" "k\\u001bey"=1\n');
  });

  it('escapes the format characters too: bidi overrides and isolates, zero-width and tag characters', () => {
    const line = JSON.stringify({ time: '2026-12-06T00:41:07Z', level: 'warn', event: 'sql.refused', ua: 'a\u202egnp.exe\u2066b\u2069\u200b\u{e0041}' });
    expect(textLine(line)).toBe('00:41:07Z warn  sql.refused ua="a\\u202egnp.exe\\u2066b\\u2069\\u200b\\udb40\\udc41"\n');
  });

  it('marks the clock with its zone, as the JSON time is: a reader elsewhere must not take UTC for local time', () => {
    const at = (time: string) => textLine(JSON.stringify({ time, level: 'info', event: 'e' }));
    expect(at('2026-12-06T00:41:07.123Z')).toBe('00:41:07Z info  e\n');
    expect(at('2026-12-06T02:41:07+02:00')).toBe('02:41:07+02:00 info  e\n');
    // Without a zone the time of day cannot be told: the whole value is shown.
    expect(at('2026-12-06T00:41:07.123')).toBe('time=2026-12-06T00:41:07.123 info  e\n');
  });

  it('shows a logged field named time as a field, never raw: only pino\'s ISO time is cut to the clock', () => {
    // pino writes its own time, then the event's fields; JSON.parse keeps the last `time`.
    const line = '{"level":"warn","time":"2026-12-06T00:41:07.123Z","component":"x","event":"e","time":"0123456789A\\u001b[2J\\u001b[H"}';
    expect(textLine(line)).toBe('time="0123456789A\\u001b[2J\\u001b[H" warn  x: e\n');
  });

  it('shows a line that is not a JSON object as one escaped string', () => {
    expect(textLine('not json \u001b[0m\n')).toBe('"not json \\u001b[0m"\n');
    expect(textLine('[1,2]')).toBe('"[1,2]"\n');
  });

  it('is what a command writes to stderr with LOG_FORMAT=text; off a terminal it writes JSON', () => {
    const stderrOf = (env: Record<string, string>) => {
      const run = spawnSync(process.execPath, ['bin/run-ts.mjs', 'core/fixtures/log-to-stderr.ts'], { encoding: 'utf8', env: { ...process.env, ...env } });
      expect(run.status, run.stderr).toBe(0);
      return run.stderr;
    };
    expect(stderrOf({ LOG_FORMAT: 'text' })).toMatch(
      /^\d\d:\d\d:\d\dZ warn {2}connector\.tencent-ccc: poll\.retry attempt=3 delayMs=2000 userAgent="evil\\u001b\[2J\\u009b31m" error="socket hang up"\n$/,
    );
    const json = JSON.parse(stderrOf({ LOG_FORMAT: '' })) as Record<string, unknown>;
    expect(json).toMatchObject({ level: 'warn', component: 'connector.tencent-ccc', event: 'poll.retry', userAgent: 'evil\u001b[2J\u009b31m' });
  });
});

describe('an error logged as a field', () => {
  it("is its type and its own, its causes' and its errors' messages, URLs redacted: never a field of any of them", () => {
    // The schema registry client's error keeps the URL it asked, user and password included, in its own `url`.
    const asked = Object.assign(new Error('Confluent_Schema_Registry - refused'), { status: 401, url: 'post http://u:pw-in-url@registry:8081/subjects' });
    const wrapped = new Error('could not register at http://u:pw-in-text@registry:8081', { cause: asked });
    const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-log-')), 'log.jsonl');
    configureLogging({ level: 'info', to: { file } })('info', 'registry.failed', { err: wrapped, error: asked, errors: new AggregateError([wrapped], 'all failed'), attempt: 2 });
    const line = readFileSync(file, 'utf8');
    expect(line).not.toMatch(/pw-in-/);
    expect(JSON.parse(line)).toMatchObject({
      event: 'registry.failed',
      attempt: 2,
      err: { type: 'Error', message: 'could not register at http://***@registry:8081: Confluent_Schema_Registry - refused' },
      error: { type: 'Error', message: 'Confluent_Schema_Registry - refused' },
      errors: { type: 'AggregateError', message: 'all failed [could not register at http://***@registry:8081: Confluent_Schema_Registry - refused]' },
    });
  });
});
