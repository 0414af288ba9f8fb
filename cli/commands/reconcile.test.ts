// `cdrflow reconcile` exit codes as a script sees them: 0 / 1 / 2 are verdicts about the data; a run that could not be
// made (another run in progress in the job, the job stopping or gone silent, Kafka / ClickHouse / the registry
// unreachable) is 3, never 1 ("drift").
import { spawn } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../../core/kafka.ts';
import { JOB_STARTING, JOB_STOPPING, OPS_SERVER_HEADER, RECONCILE_UNSENT_BOUND_BYTES, startOpsServer } from '../../core/ops-server.ts';
import { loadAppConfig } from '../../app/config.ts';
import { ERROR_HEAD_TIMEOUT_MS, MAX_ERROR_BYTES } from '../../app/ops-client.ts';
import { MAX_QUOTED_CHARS } from '../../core/input-limits.ts';
import { RECONCILE_KEEPALIVE_MS, startReconcileService } from '../../app/reconcile-service.ts';
import { BIN, cdrflow, freePort, REPO } from '../../test/main-job/cli.ts';
import { streamUntilClosed } from '../../test/endless-answer.ts';
import { ExitError } from '../command.ts';
import type { ReconcileRequest } from '../../reconcile/reconcile.ts';
import { JOB_HEAD_MS, JOB_SILENT_MS, OLD_JOB_SILENT_MS, viaJob } from './reconcile.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'cdrflow-reconcile-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The CLI as a child process (spawned, not run synchronously: the test's own ops server must keep answering meanwhile). */
function run(args: string[], env: Record<string, string>) {
  // Nothing of the surroundings: no job, no broker, no server but the ones given.
  return cdrflow(args, { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', TZ: 'UTC', NO_COLOR: '1', CLICKHOUSE_DATA_DIR: dataDir, ...env }, 60_000);
}

describe('cdrflow reconcile exit codes', { timeout: 90_000 }, () => {
  it('exits 3 (no verdict), not 1, when the running job has a reconcile in progress', async () => {
    // A job whose reconcile never gets past its first step: the Kafka admin never connects.
    const stuck = { admin: () => ({ connect: () => new Promise(() => {}), disconnect: () => Promise.resolve() }) } as unknown as Kafka;
    const metrics = new Registry();
    const service = startReconcileService(loadAppConfig({ env: {} }), { kafka: stuck, registry: {} as SchemaRegistry, clickhouse: {} as ClickHouseClient, connectors: () => [], promRegistry: metrics, demo: false, say: () => {}, log: () => {} });
    const ops = await startOpsServer(0, { metrics, readiness: () => ({ ready: true, components: {} }), status: () => Promise.resolve({}), query: () => Promise.resolve(''), reconcile: (body, write) => service.handle(body, write) });
    try {
      void service.handle(JSON.stringify({ from: '2026-11-30', to: '2026-11-30' }), () => {});
      const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], { CDRFLOW_OPS_PORT: String(ops.port) });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('a reconcile run is already in progress in this job');
      expect(r.stderr).toContain('no verdict');
      expect(r.stdout).toBe('');
    } finally {
      await service.stop(0);
      await ops.close();
    }
  });

  it.each([
    ['stopping', JOB_STOPPING],
    ['still starting', JOB_STARTING],
  ] as const)('exits 3 (no verdict) with one line when the job is %s, and nothing runs there', async (state, refusal) => {
    const runs: string[] = [];
    const metrics = new Registry();
    const ops = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: true, components: {} }),
      status: () => Promise.resolve({}),
      query: () => Promise.resolve(''),
      reconcile: async (body) => void runs.push(body),
      ...(state === 'still starting' ? { reconcileRefusal: () => JOB_STARTING } : {}),
    });
    try {
      if (state === 'stopping') ops.stopping();
      const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], { CDRFLOW_OPS_PORT: String(ops.port) });
      expect(r.code).toBe(3);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`cdrflow reconcile: no verdict (exit 3), the run could not be made: ${refusal}`);
      expect(r.stdout).toBe('');
      expect(runs).toEqual([]);
    } finally {
      await ops.close();
    }
  });

  it('exits 3 (no verdict), not 1, when ClickHouse cannot be reached', async () => {
    const port = await freePort();
    const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], {
      CDRFLOW_OPS_PORT: String(await freePort()),
      CLICKHOUSE_URL: `http://127.0.0.1:${port}`,
      KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).toContain('no verdict');
  });

  it('keeps 64 for a usage error and 78 for an invalid configuration', async () => {
    const usage = await run(['reconcile', '--from', 'yesterday'], {});
    expect(usage.stderr).toContain('--to is required');
    expect(usage.code).toBe(64);
    const config = await run(['reconcile', '--from', 'yesterday', '--to', 'today', '--config', tmpdir()], {});
    expect(config.code).toBe(78);
  });

  it('refuses with 64 what the job refuses (one check for both): days out of order, a settle time beyond a week, an empty tenant', async () => {
    const cases: [string[], string][] = [
      [['--from', '2099-01-01', '--to', '1999-01-01'], 'cdrflow reconcile: --to must not be before --from'],
      [['--from', '2026-02-31', '--to', '2026-03-01'], 'cdrflow reconcile: --from needs a day as YYYY-MM-DD, got "2026-02-31"'],
      [['--from', '0001-01-01', '--to', '0001-01-02'], 'cdrflow reconcile: --from must be a day from 1970-01-01 to 2149-06-06 (what ClickHouse\'s Date holds), got "0001-01-01"'],
      [['--from', 'yesterday', '--to', 'yesterday', '--settle', '99999999'], 'cdrflow reconcile: --settle needs an integer 0..604800, got "99999999"'],
      [['--from', 'yesterday', '--to', 'yesterday', '--tenant='], 'cdrflow reconcile: --tenant needs a tenant'],
    ];
    const env = { CDRFLOW_OPS_PORT: String(await freePort()), CLICKHOUSE_URL: `http://127.0.0.1:${await freePort()}`, KAFKA_BROKERS: `127.0.0.1:${await freePort()}` };
    for (const [args, message] of cases) {
      const r = await run(['reconcile', ...args], env);
      expect({ args, code: r.code, first: r.stderr.split('\n')[0] }).toEqual({ args, code: 64, first: message });
    }
  });

  it.each([
    ['no verdict', undefined, 3],
    ['a refused request', 64, 64],
  ] as const)("shows the job's progress lines (%s) each on one line and its error line by line, their control and bidi characters escaped", async (_case, exitCode, code) => {
    const hostile = (what: string) => `${what}\u001b]0;owned\u0007 \u001b[2J\r\u202egnp.exe\u0085`;
    const escaped = (what: string) => `${what}\\u001b]0;owned\\u0007 \\u001b[2J\\u000d\\u202egnp.exe\\u0085`;
    // A progress line is a reason (terminalReason): its CR and line break as JSON writes them.
    const oneLine = (what: string) => `${what}\\u001b]0;owned\\u0007 \\u001b[2J\\r\\u202egnp.exe\\u0085`;
    const ops = await startOpsServer(0, {
      metrics: new Registry(),
      readiness: () => ({ ready: true, components: {} }),
      status: () => Promise.resolve({}),
      query: () => Promise.resolve(''),
      reconcile: (_body, write) => {
        write(JSON.stringify({ progress: hostile('reading') }));
        write(JSON.stringify({ progress: `two\n${hostile('lines')}` }));
        return Promise.resolve(write(JSON.stringify({ error: `first\n${hostile('failed')}`, ...(exitCode ? { exitCode } : {}) })));
      },
    });
    try {
      const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], { CDRFLOW_OPS_PORT: String(ops.port) });
      expect(r.code).toBe(code);
      // eslint-disable-next-line no-control-regex
      expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u0085\u202e]/u);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines.slice(1)).toEqual([oneLine('reading'), oneLine('two\\nlines'), expect.stringMatching(/first$/), escaped('failed')]);
    } finally {
      await ops.close();
    }
  });

  it('shows a non-JSON answer other than 200 quoted on one line, its control and bidi characters escaped and its length cut', async () => {
    // Longer than what is shown, within what is read (MAX_ERROR_BYTES): its whole length is said.
    const page = `<html>\u001b]0;owned\u0007\u001b[2J\r\n\u202egnp.exe\u0085${'x'.repeat(10_000)}</html>`;
    // A stand-in for the job's ops port: it passes the /healthz look, then answers the run with a proxy's error page.
    const standIn = createServer((req, res) => {
      req.resume();
      if (req.url === '/healthz') return void res.writeHead(200, { [OPS_SERVER_HEADER]: 'cdrflow' }).end('ok');
      res.writeHead(500, { 'content-type': 'text/html' }).end(page);
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    try {
      const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], { CDRFLOW_OPS_PORT: String((standIn.address() as AddressInfo).port) });
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      // eslint-disable-next-line no-control-regex
      expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u0085\u202e]/u);
      const said = r.stderr.trimEnd().split('\n').find((line) => line.includes('answered 500'));
      expect(said).toContain('the running job answered 500: "<html>\\u001b]0;owned\\u0007\\u001b[2J\\r\\n\\u202egnp.exe\\u0085xxx');
      expect(said?.endsWith(`… (${page.length} chars)`)).toBe(true);
      expect(r.stderr.length).toBeLessThan(1_000);
    } finally {
      standIn.closeAllConnections();
      await new Promise((resolve) => standIn.close(resolve));
    }
  });

  /** A stand-in for the job's ops port: it passes the /healthz look, then answers the run as `answer` does. */
  async function standInJob(answer: (res: ServerResponse) => void) {
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/healthz') return void res.writeHead(200, { [OPS_SERVER_HEADER]: 'cdrflow' }).end('ok');
      answer(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it('reads only the start of an answer other than 200 that never ends, and ends at once', async () => {
    // Never ending for the command; the stand-in stops at CAP only so that a command reading it all ends too.
    const CAP = 256 * MAX_ERROR_BYTES;
    const chunk = Buffer.alloc(16 * 1024, 'y');
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const job = await standInJob((res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      outcome = streamUntilClosed(res, chunk, CAP);
    });
    try {
      const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], { CDRFLOW_OPS_PORT: String(job.port) });
      const { whole } = await outcome;
      expect({ code: r.code, whole }).toEqual({ code: 3, whole: false });
      const said = r.stderr.trimEnd().split('\n').find((line) => line.includes('answered 500'));
      expect(said).toMatch(/the running job answered 500: "y{200}"… \(\d+ chars\), the rest not read$/);
    } finally {
      await job.close();
    }
  });

  it("cuts the job's JSON refusal as it cuts any other answer, escaped on one line", async () => {
    const start = 'busy\u001b[2J ';
    const error = `${start}${'z'.repeat(10_000)}`;
    const job = await standInJob((res) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error })));
    try {
      const r = await run(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], { CDRFLOW_OPS_PORT: String(job.port) });
      expect(r.code).toBe(3);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`cdrflow reconcile: no verdict (exit 3), the run could not be made: busy\\u001b[2J ${'z'.repeat(MAX_QUOTED_CHARS - start.length)}… (${error.length} chars)`);
    } finally {
      await job.close();
    }
  });

  it('colours drift rows by the same rule as every command: --color through a pipe, never with --no-color or NO_COLOR on a terminal', async () => {
    const drift = { kind: 'missing_in_raw', detail: '1 record', count: 1, repairable: true };
    const row = {
      vendor: 'tencent-ccc', tenant: '1400', day: '2026-11-30', sourceKind: 'api', source: { records: 4, minutes: 8 }, raw: { records: 3, minutes: 6 }, normalized: { records: 3 }, deadLettered: 0,
      clickhouse: { count: 3, uniq: 3, minutes: 6 }, views: { cdr_daily: { calls: 3 }, cdr_hourly: { calls: 3 }, cdr_end_status: { calls: 3 } }, unmergedDuplicates: 0, inFlight: 0, drift: [drift],
    };
    const before = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows: [row], notes: [], driftRows: 1, sourceUnreachable: [], exitCode: 1 };
    const ops = await startOpsServer(0, {
      metrics: new Registry(),
      readiness: () => ({ ready: true, components: {} }),
      status: () => Promise.resolve({}),
      query: () => Promise.resolve(''),
      reconcile: (_body, write) => Promise.resolve(write(JSON.stringify({ outcome: { before, exitCode: 1 } }))),
    });
    const RED = '\u001b[31m';
    try {
      const env = { CDRFLOW_OPS_PORT: String(ops.port), NO_COLOR: '' };
      const args = ['reconcile', '--from', 'yesterday', '--to', 'yesterday'];
      const piped = await run([...args, '--color'], env);
      expect(piped.code).toBe(1);
      expect(piped.stdout).toContain(`${RED}tencent-ccc  1400`);
      // On a terminal (script(1) gives the command one): colour unless --no-color or NO_COLOR says otherwise.
      const onTerminal = (extra: string[], noColor: string) => {
        const line = [process.execPath, BIN, ...args, ...extra].map((a) => `'${a}'`).join(' ');
        const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', TZ: 'UTC', CLICKHOUSE_DATA_DIR: dataDir, CDRFLOW_OPS_PORT: String(ops.port), NO_COLOR: noColor };
        return new Promise<string>((resolve, reject) => {
          const child = spawn('script', ['-qec', line, '/dev/null'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.on('error', reject);
          child.on('close', () => resolve(out));
        });
      };
      expect(await onTerminal([], '')).toContain(RED);
      expect(await onTerminal(['--no-color'], '')).not.toContain(RED);
      expect(await onTerminal([], '1')).not.toContain(RED);
    } finally {
      await ops.close();
    }
  });
});

// The answer of the running job read in this process, with the limits made small: a stand-in for the job that never
// ends a line, or says 500 and then nothing, must end the command promptly, not hold it for good.
describe('reading the running job', () => {
  const req: ReconcileRequest = { from: '2026-11-30', to: '2026-11-30', vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: false, trigger: 'cli' };
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });
  async function job(answer: (res: ServerResponse) => void): Promise<string> {
    server = createServer((req, res) => {
      req.resume();
      answer(res);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('reads lines split anywhere, a character cut in two across writes included, up to a line of exactly the bound', async () => {
    const outcome = { before: { runId: 'ü€😀' }, exitCode: 0 };
    const lines = Buffer.from(`${JSON.stringify({ progress: 'reading ü' })}\n\n${JSON.stringify({ outcome })}\n`);
    const longest = Buffer.byteLength(JSON.stringify({ outcome }));
    const base = await job((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // One byte a write: every line, and every character of more than one byte, arrives in pieces.
      let at = 0;
      const next = () => (at < lines.length ? res.write(lines.subarray(at, ++at), next) : res.end());
      next();
    });
    expect(await viaJob(base, req, new AbortController().signal, { maxLineBytes: longest })).toEqual(outcome);
  });

  it("prints a progress line quoting a vendor's error on one line, escaped and cut as the run in this process prints its notes", async () => {
    // The job sends the source layer's notes as progress lines (app/reconcile-service.ts), a vendor's text in them.
    const note = `source tencent-ccc 1400000001 unreachable after 3 attempt(s): \u001b]0;owned\u0007\u001b[2J\nreconcile: no drift\u202e${'x'.repeat(100_000)}`;
    const outcome = { exitCode: 0 };
    const base = await job((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(`${JSON.stringify({ progress: note })}\n${JSON.stringify({ outcome })}\n`);
    });
    const written: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => written.push(String(chunk)) > 0);
    try {
      expect(await viaJob(base, req, new AbortController().signal)).toEqual(outcome);
    } finally {
      stderr.mockRestore();
    }
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^source tencent-ccc 1400000001 unreachable after 3 attempt\(s\): \\u001b\]0;owned\\u0007\\u001b\[2J\\nreconcile: no drift\\u202ex+… \(reason cut, 100\d\d\d chars\)\n$/);
    expect(written[0]!.length).toBeLessThan(600);
  });

  it('ends with one line, no verdict (3), at a line longer than the bound, having read little past it', async () => {
    const MAX = 64 * 1024;
    // Never ending for the command; the stand-in stops at CAP only so that a command reading it all ends too.
    const CAP = 256 * MAX;
    const chunk = Buffer.alloc(16 * 1024, 'x');
    let done!: Promise<{ sent: number; whole: boolean }>;
    const base = await job((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ progress: 'reading' })}\n{"outcome":"`);
      done = streamUntilClosed(res, chunk, CAP);
    });
    const err = await viaJob(base, req, new AbortController().signal, { maxLineBytes: MAX }).then(() => undefined, (e: unknown) => e as Error);
    const { sent, whole } = await done;
    expect(err).toBeInstanceOf(ExitError);
    expect({ code: (err as ExitError).code, lines: err!.message.split('\n').length, whole }).toEqual({ code: 3, lines: 1, whole: false });
    expect(err!.message).toMatch(/^no verdict \(exit 3\), the run could not be made: the running job sent a line longer than 65536 bytes, .* starting "\{\\"outcome\\":\\"x{100,}"…$/);
    // What the socket buffers on both sides hold past the bound, not the whole answer.
    expect(sent).toBeLessThan(CAP / 2);
  });

  // A job that hangs once its 200 came, or a network path that drops packets: the command held on until Ctrl-C.
  it('ends with one line, no verdict (3), when a job that sends keep-alives goes silent', { timeout: 5_000 }, async () => {
    const base = await job((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ keepAlive: 15 })}\n`);
    });
    const started = Date.now();
    const err = await viaJob(base, req, new AbortController().signal, { silentMs: 200 }).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(ExitError);
    expect({ code: (err as ExitError).code, message: err!.message }).toEqual({
      code: 3,
      message: `no verdict (exit 3), the run could not be made: the running job at ${base} sent nothing for 0.2 s during the run, though it sends a keep-alive every 15 s: it hangs, or the network path to it drops packets; this command stopped waiting (the job's log and reconcile_runs say whether the run ended)`,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('holds a job without keep-alives (an earlier version) only to the longer silence: a long gap between its lines is no failure', { timeout: 5_000 }, async () => {
    const outcome = { before: { runId: 'r' }, exitCode: 0 };
    const base = await job((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ progress: 'kafka cdr.raw.tencent-ccc' })}\n`);
      // Longer than the silence a job with keep-alives is allowed, shorter than an earlier version's.
      setTimeout(() => res.end(`${JSON.stringify({ outcome })}\n`), 300);
    });
    expect(await viaJob(base, req, new AbortController().signal, { silentMs: 50, oldJobSilentMs: 3_000 })).toEqual(outcome);
  });

  it('gives up on a job without keep-alives after the longer silence', { timeout: 5_000 }, async () => {
    const base = await job((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ progress: 'kafka cdr.raw.tencent-ccc' })}\n`);
    });
    const err = await viaJob(base, req, new AbortController().signal, { silentMs: 50, oldJobSilentMs: 300 }).then(() => undefined, (e: unknown) => e as Error);
    expect({ code: (err as ExitError).code, message: err!.message }).toEqual({
      code: 3,
      message: `no verdict (exit 3), the run could not be made: the running job at ${base} sent nothing for 0.3 s during the run, not even a keep-alive (a job of an earlier version sends none): it hangs, or the network path to it drops packets; this command stopped waiting (the job's log and reconcile_runs say whether the run ended)`,
    });
  });

  // A job that takes the request and never starts its answer: the command held on until fetch gave up after 300 s.
  it('ends with one line, no verdict (3), when the job takes the request and never starts its answer', { timeout: 5_000 }, async () => {
    const base = await job(() => {});
    const started = Date.now();
    const err = await viaJob(base, req, new AbortController().signal, { headMs: 200 }).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(ExitError);
    expect({ code: (err as ExitError).code, message: err!.message }).toEqual({
      code: 3,
      message: `no verdict (exit 3), the run could not be made: the running job at ${base} sent nothing for 0.2 s after the request, not even the start of its answer, which it sends at once (a job of an earlier version with its first progress line): it hangs, or the network path to it drops packets; this command stopped waiting (the job's log and reconcile_runs say whether a run began)`,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('ends within the time given when the job answers 500 and then sends nothing', { timeout: 10_000 }, async () => {
    const base = await job((res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.flushHeaders();
    });
    const started = Date.now();
    const err = await viaJob(base, req, new AbortController().signal, { errorHeadMs: 200 }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toBe('the running job answered 500, and its text did not come within 0.2 s');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

// The times and sizes README.md ("Reconciling a month") gives a script waiting on the job: the tests above shorten
// them, so a change of the defaults would pass them unseen.
describe('the limits README.md gives `cdrflow reconcile` talking to the running job', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const number = (pattern: RegExp, what: string): number => {
    const found = pattern.exec(readme)?.[1];
    expect(found, `README.md no longer says ${what}`).toBeDefined();
    return Number(found);
  };

  it('gives up on a silent job, a job of an earlier version and an answer that never starts after the documented times', () => {
    expect(RECONCILE_KEEPALIVE_MS).toBe(number(/a keep-alive line `\{"keepAlive":(\d+)\}`, at once and every \1 s/, 'how often the job sends a keep-alive') * 1000);
    expect(JOB_SILENT_MS).toBe(number(/sends nothing at all for (\d+) s \(`JOB_SILENT_MS`, four missed\)/, 'when a silent job is given up on') * 1000);
    expect(JOB_SILENT_MS).toBe(4 * RECONCILE_KEEPALIVE_MS);
    expect(OLD_JOB_SILENT_MS).toBe(number(/given up on after (\d+) s of silence \(`OLD_JOB_SILENT_MS`/, 'when a job of an earlier version is given up on') * 1000);
    expect(JOB_HEAD_MS).toBe(number(/within (\d+) minutes \(`JOB_HEAD_MS`\)/, 'how long the start of the answer may take') * 60_000);
  });

  it('reads the text of an answer other than 200 up to the documented size and time', () => {
    expect(MAX_ERROR_BYTES).toBe(number(/another status whose text \(read up to (\d+) KiB\) does not come within \d+ s/, 'how much of an error answer is read') * 1024);
    expect(ERROR_HEAD_TIMEOUT_MS).toBe(number(/another status whose text \(read up to \d+ KiB\) does not come within (\d+) s/, 'how long an error answer may take') * 1000);
  });

  it('holds no more than the documented unsent answer for a client that stops reading', () => {
    expect(RECONCILE_UNSENT_BOUND_BYTES).toBe(number(/while more than (\d+) MiB of its answer is unsent \(`RECONCILE_UNSENT_BOUND_BYTES`/, 'how much unsent answer the job holds') * 2 ** 20);
  });
});
