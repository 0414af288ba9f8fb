// `cdrflow start --demo` as a user runs it, in a child process against the test stack (unique namespace, its own
// ClickHouse data directory and ops port): CDRs from all four vendors reach ClickHouse with sensible end statuses and
// billable minutes, `cdrflow sql`, `cdrflow status`, /status and /metrics agree with ClickHouse, and SIGINT stops
// everything it started and exits 0.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers.ts';
import { StopPolling } from '../../infra/local/processes.ts';
import { alive, cdrflow, descendants, freePort, startCli } from './cli.ts';
import type { StatusSnapshot } from '../../app/status.ts';
import { CLICKHOUSE_FIGURES_TTL_MS } from '../../app/job.ts';

const VENDORS = ['alibaba-lvms', 'huawei-privatenumber', 'tencent-ccc', 'tencent-trtc'];

interface VendorRow {
  vendor: string;
  cdrs: string;
  ids: string;
  answered: string;
  statuses: string[];
  billed_unanswered: string;
  answered_minutes: string;
  minutes: string;
}

describe('cdrflow start --demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-main-job-'));
  let stopChild: (() => void) | undefined;
  afterAll(() => stopChild?.());

  it('brings all four vendors into ClickHouse, agrees with status and metrics, and stops cleanly on SIGINT', async () => {
    const namespace = uniqueName('mainjob');
    const opsPort = await freePort();
    const config = join(dir, 'pipeline.yaml');
    // A dedicated database too, for when the test stack is a shared ClickHouse server (CLICKHOUSE_URL).
    writeFileSync(
      config,
      [
        `namespace: ${namespace}`,
        `sink: { database: ${namespace}, flushMs: 250 }`,
        'ops: { statusIntervalSec: 2 }',
        'shutdown: { drainTimeoutSec: 60 }',
        'demo: { historyMinutes: 5, malformedRate: 0.1, flakyPushRate: 0.2, pollIntervalSec: 3, settleSec: 2 }',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, CDRFLOW_OPS_PORT: String(opsPort), CLICKHOUSE_DATA_DIR: join(dir, 'clickhouse'), TZ: 'UTC' };
    expect(env['KAFKA_BROKERS'], 'the test harness names the test Kafka').toBeTruthy();

    const job = startCli(['start', '--demo', '--rate', '8', '--config', config], env);
    let exitCode: number | null | undefined;
    void job.exited.then((c) => (exitCode = c));
    stopChild = () => {
      if (exitCode === undefined) job.child.kill('SIGKILL');
    };
    const cli = (args: string[]) => cdrflow([...args, '--config', config], env);
    // The JSON log lines too: a stop that hangs says in them which step it waits for.
    const diagnostics = () =>
      `exit ${String(exitCode)}\n--- stderr ---\n${job.output().stderr.slice(-4000)}\n--- stdout, last 40 lines ---\n${job.output().stdout.split('\n').slice(-40).join('\n')}`;

    // 1. Ready: every component running (the ops port answers only once start-up is done).
    await waitFor(
      async () => {
        if (exitCode !== undefined) throw new StopPolling(`start exited early\n${diagnostics()}`);
        const res = await fetch(`http://127.0.0.1:${opsPort}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'the main job to be ready', details: diagnostics },
    );

    // 2. Within a minute: CDRs from all four vendors, each counted once, answered and unanswered ones, and billing
    //    that starts at answer (no unanswered call bills; answered ones do).
    const query = `SELECT vendor, count() AS cdrs, uniqExact(cdr_id) AS ids, countIf(is_answered) AS answered,
        groupUniqArray(toString(end_status)) AS statuses, countIf(NOT is_answered AND billable_seconds > 0) AS billed_unanswered,
        sumIf(billable_minutes, is_answered) AS answered_minutes, sum(billable_minutes) AS minutes
      FROM cdr FINAL GROUP BY vendor ORDER BY vendor`;
    const rows = await waitFor(
      async () => {
        const r = await cli(['sql', query, '--format', 'JSONEachRow']);
        if (r.code !== 0) throw new Error(`cdrflow sql exited ${r.code}: ${r.stderr}`);
        const parsed = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as VendorRow);
        const ready = VENDORS.every((v) => {
          const row = parsed.find((p) => p.vendor === v);
          return row !== undefined && Number(row.answered) >= 2 && row.statuses.some((s) => s !== 'ANSWERED');
        });
        return ready ? parsed : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2_000, message: 'answered and unanswered CDRs of all four vendors in ClickHouse', details: diagnostics },
    );
    expect(rows.map((r) => r.vendor)).toEqual(VENDORS);
    for (const r of rows) {
      expect(Number(r.cdrs), r.vendor).toBe(Number(r.ids));
      expect(Number(r.billed_unanswered), `${r.vendor}: unanswered calls must bill nothing`).toBe(0);
      expect(Number(r.answered_minutes), `${r.vendor}: answered calls bill minutes`).toBeGreaterThan(0);
      expect(r.statuses).toContain('ANSWERED');
      for (const s of r.statuses) expect(['ANSWERED', 'NO_ANSWER', 'BUSY', 'REJECTED', 'CANCELLED', 'ABANDONED', 'UNREACHABLE', 'BLOCKED', 'FAILED', 'SYSTEM_ERROR', 'UNKNOWN']).toContain(s);
    }

    // 3. The status and the metrics agree with ClickHouse. Traffic keeps flowing, so each figure is bracketed by
    //    reads taken before and after it: a figure that counted re-sends or missed rows falls outside the bracket.
    const sqlTotals = async () => {
      const r = await cli(['sql', 'SELECT count() AS cdrs, sum(billable_minutes) AS minutes FROM cdr FINAL', '--format', 'JSONEachRow']);
      expect(r.code, r.stderr).toBe(0);
      const row = JSON.parse(r.stdout) as { cdrs: string; minutes: string };
      return { cdrs: Number(row.cdrs), minutes: Number(row.minutes) };
    };
    const statusTotals = (s: StatusSnapshot) => {
      if ('error' in s.clickhouse) throw new Error(`status could not read ClickHouse: ${s.clickhouse.error}`);
      return { cdrs: s.clickhouse.cdrs, minutes: s.clickhouse.billableMinutes };
    };
    const metricTotals = async () => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      const sum = (name: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith(`${name}{`))
          .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      return { cdrs: sum('cdrflow_clickhouse_cdrs'), minutes: sum('cdrflow_clickhouse_billable_minutes'), text };
    };
    // /metrics reuses its ClickHouse figures for CLICKHOUSE_FIGURES_TTL_MS (no FINAL query per scrape): its lower
    // bound is a total read at least that long before the scrape. /status reads them fresh.
    const early = await sqlTotals();
    const earlyAt = Date.now();
    const before = await sqlTotals();
    const statusCli = await cli(['status', '--json']);
    expect(statusCli.code, statusCli.stderr).toBe(0);
    const snapshot = JSON.parse(statusCli.stdout) as StatusSnapshot;
    await waitFor(() => Date.now() - earlyAt > CLICKHOUSE_FIGURES_TTL_MS, { timeoutMs: CLICKHOUSE_FIGURES_TTL_MS + 5_000, message: 'the metrics cache to turn over' });
    const metrics = await metricTotals();
    const after = await sqlTotals();
    expect(snapshot.source).toBe('running job');
    for (const [name, figures, lower] of [['cdrflow status', statusTotals(snapshot), before], ['/metrics', metrics, early]] as const) {
      expect(figures.cdrs, `${name} CDRs`).toBeGreaterThanOrEqual(lower.cdrs);
      expect(figures.cdrs, `${name} CDRs`).toBeLessThanOrEqual(after.cdrs);
      expect(figures.minutes, `${name} billable minutes`).toBeGreaterThanOrEqual(lower.minutes);
      expect(figures.minutes, `${name} billable minutes`).toBeLessThanOrEqual(after.minutes);
    }
    // Per-vendor figures of the status sum to its total; every vendor is fed.
    const ch = snapshot.clickhouse as { cdrs: number; byVendor: { vendor: string; cdrs: number }[] };
    expect(ch.byVendor.reduce((s, v) => s + v.cdrs, 0)).toBe(ch.cdrs);
    for (const v of VENDORS) expect(snapshot.intake[v as keyof typeof snapshot.intake]?.records ?? 0, v).toBeGreaterThan(0);
    // The stage counters are the ones /metrics exports, and the sink never wrote more rows than normalize produced.
    expect(snapshot.sink.out ?? 0).toBeLessThanOrEqual(snapshot.normalize.out ?? 0);
    expect(snapshot.checkpoints.map((c) => c.id)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^tencent-ccc:\d+:live$/), expect.stringMatching(/^tencent-trtc:\d+:live$/)]),
    );
    expect(metrics.text).toMatch(/cdrflow_stage_records_out_total\{stage="normalize"\} \d+/);
    expect(metrics.text).toMatch(/cdrflow_clickhouse_insert_duration_seconds_count\{outcome="ok"\} [1-9]/);
    expect(metrics.text).toMatch(/cdrflow_consumer_lag\{group="[^"]+",topic="[^"]+"\} \d+/);
    expect(metrics.text).toMatch(/cdrflow_checkpoint_age_seconds\{checkpoint="tencent-trtc:\d+:live"\} \d+/);
    expect(metrics.text).toMatch(/cdrflow_stage_batch_records_count\{stage="sink"\} [1-9]/);
    expect(metrics.text).toMatch(/cdrflow_poller_records_total\{vendor="tencent-ccc",tenant="\d+",mode="live"\} [1-9]/);
    expect(metrics.text).toContain('cdrflow_receiver_records_published_total{vendor="huawei-privatenumber"');

    // 4. Malformed vendor records went to the dead-letter topic, counted by normalize.
    await waitFor(
      async () => {
        const text = (await metricTotals()).text;
        const m = /cdrflow_stage_dead_lettered_total\{stage="normalize"\} (\d+)/.exec(text);
        return m !== null && Number(m[1]) > 0;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, message: 'normalize to dead-letter a malformed demo record' },
    );

    // 4b. ...and the dead-letter loader put them in ClickHouse, with their reason.
    await waitFor(
      async () => {
        const r = await cli(['sql', "SELECT count() AS n FROM cdr_dead_letters WHERE component = 'normalize' AND error_kind = 'bad_record'", '--format', 'JSONEachRow']);
        return r.code === 0 && Number((JSON.parse(r.stdout) as { n: string }).n) > 0;
      },
      { timeoutMs: 60_000, intervalMs: 2_000, message: 'normalize dead letters in cdr_dead_letters' },
    );

    // 5. The flaky demo network refused pushes and the vendors re-sent them (Huawei's schedule, LVMS' backoff).
    await waitFor(
      async () => {
        const r = await cli(['status', '--json']);
        const d = (JSON.parse(r.stdout) as StatusSnapshot).demoTraffic;
        return d !== undefined && d.networkRefusals > 0 && d.huawei.retries > 0 && d.lvms.retries > 0;
      },
      { timeoutMs: 60_000, intervalMs: 2_000, message: 'refused pushes to be retried by both push vendors' },
    );

    // 6. The status line was printed.
    expect(job.output().stderr).toMatch(/\| raw ccc [\d,]+ trtc [\d,]+ huawei [\d,]+ lvms [\d,]+ \| normalize .* \| clickhouse [\d,]+ CDRs [\d,]+ billable min/);

    // 7. SIGINT: clean stop, exit 0, nothing left behind (no child processes, ops port closed).
    const pid = job.child.pid!;
    const children = descendants(pid);
    job.child.kill('SIGINT');
    const code = await Promise.race([job.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
    expect(code, diagnostics()).toBe(0);
    expect(job.output().stderr).toContain('stopped cleanly');
    // Intake stopped first, then normalize and the sink caught up before they were stopped.
    expect(job.output().stderr).toContain('drained: normalize, the sink and the dead-letter loader caught up');
    expect(alive(pid)).toBe(false);
    // Helpers such as tsx's esbuild service exit when their parent's pipe closes, a moment after the parent.
    await waitFor(() => children.every((child) => !alive(child)), {
      timeoutMs: 10_000,
      message: `child processes ${children.join(', ')} of the job to exit`,
    });
    await expect(fetch(`http://127.0.0.1:${opsPort}/healthz`)).rejects.toThrow();

    // 8. After the stop, `cdrflow sql` opens the embedded engine directly and sees everything the job flushed.
    const final = await sqlTotals();
    expect(final.cdrs).toBeGreaterThanOrEqual(after.cdrs);
    // Drained, so the loader caught up: cdr_dead_letters holds each dead letter of the topic once, without FINAL.
    const dlqSql = await cli(['sql', 'SELECT count() AS n, uniqExact(dlq_partition, dlq_offset) AS positions FROM cdr_dead_letters', '--format', 'JSONEachRow']);
    expect(dlqSql.code, dlqSql.stderr).toBe(0);
    const loaded = JSON.parse(dlqSql.stdout) as { n: string; positions: string };
    const dlqCli = await cli(['dlq', '--json']);
    expect(dlqCli.code, dlqCli.stderr).toBe(0);
    const onTopic = (JSON.parse(dlqCli.stdout) as { total: number }).total;
    expect(onTopic).toBeGreaterThan(0);
    expect([Number(loaded.n), Number(loaded.positions)]).toEqual([onTopic, onTopic]);
  }, 360_000);
});
