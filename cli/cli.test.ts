// `cdrflow` as a user meets it, run as a child process: --version, help, did-you-mean, a closed pipe, colour only
// for a terminal, syntax errors pointed at in the user's query, and the message when another process holds the
// embedded engine. Each command runs against the real embedded engine in a temporary data directory.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from '../core/did-you-mean.ts';
import { takeColorFlags, useColor } from './output.ts';
import { pointAtError } from './commands/sql.ts';
import { createClickHouse } from '../core/clickhouse.ts';
import { openReadOnlySql } from '../core/read-only-sql.ts';
import { startOpsServer } from '../core/ops-server.ts';
import { opsQuery } from '../app/ops-client.ts';
import { Registry } from 'prom-client';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/cdrflow.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'cdrflow-cli-test-'));
// No running job may answer on the ops port: the commands must use the temporary engine.
const env = { ...process.env, CLICKHOUSE_DATA_DIR: dataDir, CDRFLOW_OPS_PORT: '1', NO_COLOR: '' };
const ESC = '\x1b[';

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function cdrflow(args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, env: { ...env, ...extraEnv }, timeout: 90_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command, reads its stdout until the first line, then closes the pipe like `head -1` does. */
function firstLineThenClose(args: string[]): Promise<{ line: string; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let line: string | undefined;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (line === undefined && out.includes('\n')) {
        line = out.slice(0, out.indexOf('\n'));
        child.stdout.destroy();
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ line: line ?? '', code, stderr }));
  });
}

describe('cdrflow like its peers', { timeout: 120_000 }, () => {
  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = cdrflow(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('help <command> prints that command\'s usage, the same as <command> --help', () => {
    const help = cdrflow(['help', 'migrate']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: cdrflow migrate/);
    expect(cdrflow(['migrate', '--help']).stdout).toBe(help.stdout);
    expect(cdrflow(['--help']).stdout).toMatch(/Commands:[\s\S]*\n {2}sql +run a read-only SQL query/);
  });

  it('sql --help names every table and view the migrations create (their materialized view aside)', async () => {
    const { loadMigrations } = await import('../sinks/clickhouse/migrations.ts');
    const { command } = await import('./commands/sql.ts');
    const created = loadMigrations()
      .flatMap((m) => m.statements)
      .flatMap((sql) => [.../CREATE (TABLE|VIEW) IF NOT EXISTS \{db\}\.(\w+)/g.exec(sql) ?? []].slice(2));
    expect(created.length).toBeGreaterThan(8);
    const help = command.usage.replace(/\s+/g, ' ');
    for (const name of created) expect(help).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('suggests the command or flag meant', () => {
    const cmd = cdrflow(['stauts']);
    expect(cmd.status).toBe(64);
    expect(cmd.stderr).toContain('unknown command "stauts" (did you mean "status"?)');
    const flag = cdrflow(['sql', '--fromat', 'CSV', 'SELECT 1']);
    expect(flag.status).toBe(64);
    expect(flag.stderr).toContain('unexpected argument "--fromat" (did you mean --format?)');
    expect(cdrflow(['help', 'migarte']).stderr).toContain('did you mean "migrate"?');
  });

  it('reads a number flag as decimal digits only, before touching the file', () => {
    for (const batch of ['0x10', '', '1e3']) {
      const r = cdrflow(['import', 'huawei-privatenumber', '--file', '/nonexistent/records.jsonl', '--batch', batch]);
      expect(r.status).toBe(64);
      // An empty value is none (cli/args.ts): refused as a missing one.
      expect(r.stderr).toContain(batch === '' ? '--batch needs an integer 1..10000\n' : `--batch needs an integer 1..10000, got "${batch}"`);
    }
  });

  it('refuses a config or options file that is a directory or an endless device, in one line each', () => {
    const dir = cdrflow(['status', '--config', tmpdir()]);
    expect(dir.status).toBe(78);
    expect(dir.stderr).toContain(`${tmpdir()}: cannot read: is a directory, not a file`);
    // /dev/zero used to be read until memory ran out.
    const zero = cdrflow(['status', '--config', '/dev/zero']);
    expect(zero.status).toBe(78);
    expect(zero.stderr).toContain('/dev/zero: cannot read: is more than 1048576 bytes');
    const options = spawnSync(process.execPath, [BIN, 'normalize', '--vendor', 'tencent-ccc', '--options', '/dev/zero'], { encoding: 'utf8', cwd: ROOT, env, input: '', timeout: 90_000 });
    expect(options.status).toBe(64);
    expect(options.stderr).toContain('--options /dev/zero: is more than 1048576 bytes');
  });

  it('exits quietly when the reader closes the pipe (sql … | head -1, migrate --print | grep -m1)', async () => {
    const sql = await firstLineThenClose(['sql', 'SELECT number FROM numbers(300000)', '--format', 'CSV']);
    expect(sql.line).toBe('0');
    expect(sql.stderr).not.toMatch(/EPIPE|Error/);
    expect(sql.code).toBe(0);
    const print = await firstLineThenClose(['migrate', '--print']);
    expect(print.line).toMatch(/^-- \d{4} /);
    expect(print.stderr).not.toMatch(/EPIPE|Error/);
    expect(print.code).toBe(0);
  });

  it('colours Pretty output only for a terminal or --color; --no-color and NO_COLOR win', () => {
    const piped = cdrflow(['sql', 'SELECT 1 AS x']);
    expect(piped.status).toBe(0);
    expect(piped.stdout).toContain('1 │');
    expect(piped.stdout).not.toContain(ESC);
    expect(cdrflow(['sql', 'SELECT 1 AS x', '--color']).stdout).toContain(ESC);
    expect(takeColorFlags(['sql', '--no-color', 'x', '--', '--color'])).toEqual({ args: ['sql', 'x', '--', '--color'], color: 'never' });
    const saved = process.env['NO_COLOR'];
    process.env['NO_COLOR'] = '1';
    try {
      expect(useColor({ isTTY: true })).toBe(false);
      // An empty NO_COLOR is no request (no-color.org; README: "any non-empty value"): a terminal is still coloured.
      process.env['NO_COLOR'] = '';
      expect(useColor({ isTTY: true })).toBe(true);
    } finally {
      if (saved === undefined) delete process.env['NO_COLOR'];
      else process.env['NO_COLOR'] = saved;
    }
  });

  it('points a syntax error into the query as typed, not into a clause the tool adds', () => {
    const r = cdrflow(['sql', 'SELECT number\nFROM numbers(3) WHERE (number >']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('failed at position 37');
    expect(r.stderr).not.toContain('FORMAT');
    expect(r.stderr).toContain('  FROM numbers(3) WHERE (number >\n                        ^');
    const end = cdrflow(['sql', 'SELECT 1 +']);
    expect(end.stderr).toContain('failed at position 11 (end of query)');
    expect(pointAtError('Syntax error: failed at position 8 (()', 'SELECT (1')).toBe('Syntax error: failed at position 8 (()\n\n  SELECT (1\n         ^');
  });
});

/** A database `db` on the embedded engine holding what `create` makes before any migration (someone else's table). */
async function foreignDatabase(db: string, create: string): Promise<void> {
  const client = await createClickHouse({ kind: 'embedded', dataDir, database: 'default' });
  try {
    await client.command({ query: `CREATE DATABASE ${db}` });
    await client.command({ query: create });
  } finally {
    await client.close();
  }
}

describe('output and input that cannot be used', { timeout: 120_000 }, () => {
  it('migrate: a table of our name that is not ours is one line naming it, its column and what was expected, exit 78', async () => {
    await foreignDatabase('theirs', 'CREATE TABLE theirs.cdr (cdr_id String, billable_minutes String) ENGINE = ReplacingMergeTree ORDER BY cdr_id');
    const r = cdrflow(['migrate', '--database', 'theirs']);
    expect(r.status, r.stderr).toBe(78);
    // After the line of the migration that met it.
    expect(r.stderr).toBe(
      'cdrflow migrate: applying 0001_cdr (1 statement(s))\n' +
        'cdrflow migrate: ClickHouse table theirs.cdr has column(s) of another type than cdrflow writes: billable_minutes is String, expected Int32; it was not made by cdrflow: use another database, or move that table out of the way\n',
    );
  });

  it('migrate: a table in the place of one of our views is one line naming both, exit 78', async () => {
    await foreignDatabase('theirs_view', 'CREATE TABLE theirs_view.cdr_daily (day Date) ENGINE = MergeTree ORDER BY day');
    const r = cdrflow(['migrate', '--database', 'theirs_view']);
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr.split('\n').slice(-3)).toEqual([
      'cdrflow migrate: applying 0004_analytics_views (3 statement(s))',
      'cdrflow migrate: ClickHouse view theirs_view.cdr_daily is a MergeTree, not the View cdrflow creates; it was not made by cdrflow: use another database, or move that MergeTree out of the way',
      '',
    ]);
  });

  it('migrate: a data directory that is a file is one line naming the setting, exit 78 (it was mkdir\'s EEXIST)', () => {
    const file = join(dataDir, '..', `${Date.now()}-not-a-dir`);
    writeFileSync(file, '');
    try {
      const r = cdrflow(['migrate'], { CLICKHOUSE_DATA_DIR: file });
      expect(r.status, r.stderr).toBe(78);
      expect(r.stderr).toBe(`cdrflow migrate: clickhouse.dataDir (env CLICKHOUSE_DATA_DIR): ${file} is a file, not a directory; set it to a directory this user may write (it is created when missing), or set CLICKHOUSE_URL to use a ClickHouse server\n`);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('an unknown option before the command is named as an option, not a command', () => {
    const r = cdrflow(['--bogus-global', 'status']);
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow: unknown global option "--bogus-global"; the global options are --help, --version, --log-level, --no-color/);    // A near miss of a global option is named.
    const typo = cdrflow(['--versoin']);
    expect(typo.status, typo.stderr).toBe(64);
    expect(typo.stderr).toMatch(/^cdrflow: unknown global option "--versoin" \(did you mean --version\?\); the global options are/);
  });

  it('--help lists every global option main takes, --color too (it was taken but never shown), and a near miss of it is named', () => {
    const help = cdrflow(['--help']);
    expect(help.status).toBe(0);
    const globals = help.stdout.slice(help.stdout.indexOf('Global options:'));
    for (const option of ['--help', '--version', '--log-level', '--no-color', '--color']) expect(globals).toMatch(new RegExp(`${option}(?![\\w-])`));
    const typo = cdrflow(['--colr', 'status']);
    expect(typo.status, typo.stderr).toBe(64);
    expect(typo.stderr).toMatch(/^cdrflow: unknown global option "--colr" \(did you mean --color\?\); the global options are --help, --version, --log-level, --no-color, --color,/);
  });

  it('an unknown action or vendor is named as unknown, with the ones there are', () => {
    for (const [args, message] of [
      [['schemas', 'foo'], 'cdrflow schemas: unknown action "foo"; use register or check'],
      [['simulate', 'foo'], 'cdrflow simulate: unknown vendor "foo"; use one of tencent-ccc, tencent-trtc, huawei-privatenumber, alibaba-lvms'],
      [['replay', '--vendor', 'foo'], 'cdrflow replay: --vendor needs one of tencent-ccc, tencent-trtc, huawei-privatenumber, alibaba-lvms, got "foo"'],
    ] as const) {
      const r = cdrflow([...args]);
      expect(r.status, r.stderr).toBe(64);
      expect(r.stderr.split('\n')[0]).toBe(message);
    }
  });

  it('run normalize --instance with an empty id is a usage error (it fell back to the host name)', () => {
    const r = cdrflow(['run', 'normalize', '--instance=']);
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow run: --instance needs an id/);
  });

  it('run: --instance for a stage without an instance id is a usage error (it was ignored)', () => {
    const r = cdrflow(['run', 'sink', '--instance', 'x']);
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow run: --instance applies to normalize only \(its transactional id\); sink has none/);
  });

  it.skipIf(!existsSync('/dev/full'))('a full disk on stdout is one line and exit 74, not a stack trace', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, 'sql', 'SELECT 1', '--format', 'TSV'], { encoding: 'utf8', cwd: ROOT, env, stdio: ['ignore', full, 'pipe'], timeout: 90_000 });
      expect(r.status, r.stderr).toBe(74);
      expect(r.stderr).toBe('cdrflow: cannot write to standard output: ENOSPC\n');
    } finally {
      closeSync(full);
    }
  });

  it('start: a --rate over the demo\'s limit is a usage error naming --rate and the limit its help states (it was exit 78, an invalid configuration)', () => {
    const r = cdrflow(['start', '--demo', '--rate', '1000']);
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow start: --rate needs a positive number of calls per second, at most 500, got "1000"/);
    expect(r.stderr).toMatch(/--rate N +demo: calls per second over all four vendors \(default 4, at most 500\)/);
  });

  it('infra: --force with up or status is a usage error (it was taken silently; only down has something to force)', () => {
    // `status` only: were the check lost, `up` would start a stack.
    const r = cdrflow(['infra', 'status', '--force', '--port-base', '46900']);
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow infra: --force applies to `infra down` only\n/);
  });

  it("tail refuses Kafka's internal topics before connecting (their bytes were read as a schema id)", () => {
    const r = cdrflow(['tail', '__consumer_offsets'], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow tail: "__consumer_offsets" is one of Kafka's internal topics, in Kafka's own binary format, not a cdrflow topic;/);
  });

  it('sql: a query over 64 KiB is refused at once, before any parsing (1 MB of spaces on stdin hung the client for minutes)', () => {
    const spaces = `SELECT 1 ${' '.repeat(1_000_000)}`;
    const r = spawnSync(process.execPath, [BIN, 'sql', '-'], { input: spaces, encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow sql: the query on standard input is larger than 65536 bytes, the most a query may be\n/);
    const arg = cdrflow(['sql', `SELECT 1 ${' '.repeat(70_000)}`]);
    expect(arg.status, arg.stderr).toBe(64);
    expect(arg.stderr).toMatch(/^cdrflow sql: the query is larger than 65536 bytes/);
  });

  it('sql: a trailing FORMAT after 60,000 spaces still counts; a directory on stdin, an unknown format and control characters in an error', () => {
    const r = spawnSync(process.execPath, [BIN, 'sql', '-'], { input: `SELECT 41 + 1 ${' '.repeat(60_000)} format csv ;  \n`, encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('42\n');
    const dir = spawnSync(process.execPath, [BIN, 'sql', '-'], { stdio: [openSync(dataDir, 'r'), 'pipe', 'pipe'], encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 });
    expect(dir.status, dir.stderr).toBe(66);
    expect(dir.stderr).toBe('cdrflow sql: standard input is a directory; give the query, or a file or a pipe holding it\n');
    const format = cdrflow(['sql', 'SELECT 1', '--format', 'Nope']);
    expect(format.status, format.stderr).toBe(64);
    expect(format.stderr).toMatch(/^cdrflow sql: format Nope: .*Unknown format Nope/);
    // A binary format is refused as a usage error too: its bytes were printed decoded as text, mangled.
    const parquet = cdrflow(['sql', 'SELECT 1', '--format', 'Parquet']);
    expect(parquet.status, parquet.stderr).toBe(64);
    expect(parquet.stdout).toBe('');
    expect(parquet.stderr).toMatch(/^cdrflow sql: format Parquet: format Parquet is binary: this endpoint answers in text formats only \(TSV, /);
    const binary = spawnSync(process.execPath, [BIN, 'sql', '-'], { input: 'SELECT \x16\x1b[2J garbage', encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 });
    expect(binary.status).toBe(1);
    expect(binary.stderr).toContain('SELECT \\u0016\\u001b[2J garbage');
    // eslint-disable-next-line no-control-regex
    expect(binary.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
  });

  it('a directory on stdin of normalize is one line and exit 66 (it printed nothing, exit 0)', () => {
    const dir = openSync(tmpdir(), 'r');
    try {
      const r = spawnSync(process.execPath, [BIN, 'normalize', '--vendor', 'tencent-ccc'], { encoding: 'utf8', cwd: ROOT, env, stdio: [dir, 'pipe', 'pipe'], timeout: 90_000 });
      expect(r.status, r.stderr).toBe(66);
      expect(r.stderr).toBe('cdrflow normalize: standard input is a directory; give a file of JSON lines or a pipe\n');
    } finally {
      closeSync(dir);
    }
  });
});

describe('the ops port /sql', { timeout: 60_000 }, () => {
  const queryText = async (base: string, sql: string, format: string, color: boolean) => {
    const chunks: Buffer[] = [];
    await opsQuery(base, sql, format, new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk), done()) }), color);
    return Buffer.concat(chunks).toString('utf8');
  };
  it("another program answering 'ok' on the ops port is not taken for the job (its answer was printed as the result)", async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const foreign = createHttpServer((_req, res) => res.end('ok\n'));
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (foreign.address() as { port: number }).port;
      // Asynchronous, so this process's server answers while the command runs.
      const child = spawn(process.execPath, [BIN, 'sql', 'SELECT 40 + 2 AS x', '--format', 'TSV'], { cwd: ROOT, env: { ...env, CDRFLOW_OPS_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ code, stdout }, stderr).toEqual({ code: 0, stdout: '42\n' });
    } finally {
      await new Promise((r) => foreign.close(r));
    }
  });

  it('colours only when the asking client says so, whatever the job\'s own terminal is', async () => {
    // The job's own path: its read-only sessions answer the ops port.
    const client = await createClickHouse({ kind: 'embedded', dataDir, database: 'default' });
    const engine = await openReadOnlySql({ kind: 'embedded', dataDir, database: 'default' });
    const ops = await startOpsServer(0, {
      metrics: new Registry(),
      readiness: () => ({ ready: true, components: {} }),
      status: () => Promise.resolve({}),
      query: (sql, format, options) => engine.run(sql, format, options),
    });
    try {
      const base = `http://127.0.0.1:${ops.port}`;
      expect(await queryText(base, 'SELECT 1 AS x', 'PrettyCompact', false)).not.toContain(ESC);
      expect(await queryText(base, 'SELECT 1 AS x', 'PrettyCompact', true)).toContain(ESC);
      expect(await queryText(base, 'SELECT 2 AS x FORMAT CSV', 'PrettyCompact', false)).toBe('2\n');
    } finally {
      await ops.close();
      await engine.close();
      await client.close();
    }
  });

  it('another process holding the engine gets a plain message, not the engine\'s lock error', async () => {
    const client = await createClickHouse({ kind: 'embedded', dataDir, database: 'default' });
    try {
      // A setting that cannot be used now, as `start` says it: exit 78 (migrate and run sink said 1).
      for (const args of [['migrate'], ['run', 'sink'], ['run', 'dlq-loader']]) {
        const r = cdrflow(args, { KAFKA_BROKERS: '127.0.0.1:1' });
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(78);
        expect(r.stderr).toContain(`is in use by another process (PID ${process.pid}`);
        expect(r.stderr).not.toContain('Cannot lock file');
      }
    } finally {
      await client.close();
    }
  });
});

describe('the ops port /status', { timeout: 60_000 }, () => {
  it('a snapshot from the ops port is shown without its control characters (an ESC[2J in a state cleared the screen)', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    // C0 controls, then what JSON.stringify leaves raw: DEL, a C1 CSI (0x9b), bidi overrides and isolates.
    const hostile = '\x1b[2J\x1b]0;owned\x07\x7f\x9b2J\u202eevil\u202c\u2066x\u2069';
    // Any of them raw on stdout (a line feed ends a line).
    // eslint-disable-next-line no-control-regex
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    const snapshot = {
      at: '2024-05-01T00:00:00.000Z', source: 'running job', pid: 1, uptimeSec: 5, demo: false, clickhouseTarget: `embedded ${hostile}`,
      components: { sink: `running${hostile}` },
      intake: {},
      normalize: { in: 1, out: 1, deadLettered: 0, lag: 0 },
      sink: { in: 1, out: 1, deadLettered: 0, lag: 0 },
      clickhouse: { error: `down${hostile}` },
      checkpoints: [{ id: `poll:${hostile}`, watermark: `w${hostile}`, updatedAt: '2024-05-01T00:00:00.000Z', ageSec: 3, watermarkDelaySec: 3 }],
    };
    const starting = { starting: true, components: { sink: `starting${hostile}` } };
    let answer: unknown = snapshot;
    const port = createHttpServer((req, res) => {
      res.setHeader('x-cdrflow-ops', 'cdrflow');
      res.end(req.url === '/healthz' ? 'ok\n' : JSON.stringify(answer));
    });
    await new Promise<void>((r) => port.listen(0, '127.0.0.1', () => r()));
    const status = async (...flags: string[]) => {
      // Asynchronous, so this process's server answers while the command runs.
      const child = spawn(process.execPath, [BIN, 'status', ...flags], { cwd: ROOT, env: { ...env, CDRFLOW_OPS_PORT: String((port.address() as { port: number }).port) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      return { code, stdout, stderr };
    };
    try {
      const full = await status();
      expect(full.code, full.stderr).toBe(0);
      for (const shown of ['running\\u001b[2J', 'poll:\\u001b[2J\\u001b]0;owned\\u0007', 'could not be read: down\\u001b[2J']) expect(full.stdout).toContain(shown);
      expect(full.stdout).not.toMatch(raw);
      answer = starting;
      const early = await status();
      expect(early.code, early.stderr).toBe(0);
      expect(early.stdout).toBe('cdrflow start is starting: sink starting\\u001b[2J\\u001b]0;owned\\u0007\\u007f\\u009b2J\\u202eevil\\u202c\\u2066x\\u2069\n');
      // --json: every one of them as a \\uXXXX escape, and the same strings once parsed.
      for (const shape of [starting, snapshot]) {
        answer = shape;
        const json = await status('--json');
        expect(json.code, json.stderr).toBe(0);
        expect(json.stdout).not.toMatch(raw);
        expect(json.stdout).toContain('\\u007f\\u009b2J\\u202eevil\\u202c\\u2066x\\u2069');
        expect(JSON.parse(json.stdout)).toEqual(shape);
      }
    } finally {
      await new Promise((r) => port.close(r));
    }
  });
});

describe('didYouMean', () => {
  it('finds typos, swaps and unique prefixes, and stays quiet otherwise', () => {
    expect(editDistance('stauts', 'status')).toBe(1);
    expect(didYouMean('stauts', ['sql', 'status', 'start'])).toBe('status');
    expect(didYouMean('form', ['format', 'config'])).toBe('format');
    expect(didYouMean('xyz', ['format', 'config'])).toBeUndefined();
    expect(didYouMean('s', ['sql', 'status'])).toBeUndefined();
  });
});
