// The job's `POST /reconcile` handler: one run at a time, and every answer that is not a verdict says which exit code
// the CLI gives it (3: no verdict, the run could not be made; 64: a request refused by the same check as the CLI's flags).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../core/kafka.ts';
import { loadAppConfig } from './config.ts';
import { parseRequest, reconcileDepsOf, startReconcileService, type ReconcileService } from './reconcile-service.ts';
import type { ReconcileRequest } from '../reconcile/reconcile.ts';

/** A Kafka whose admin never connects: a run started on it stays in progress (its first step waits for the stages). */
const stuckKafka = { admin: () => ({ connect: () => new Promise(() => {}), disconnect: () => Promise.resolve() }) } as unknown as Kafka;

/** A Kafka that refuses at once: a run keeps asking for the stages' lag (up to 30 s), so it stays in progress. */
const refusingKafka = { admin: () => ({ connect: () => Promise.reject(new Error('refused')), disconnect: () => Promise.resolve() }) } as unknown as Kafka;

function serviceOn(kafka: Kafka, log: (level: string, event: string, fields?: Record<string, unknown>) => void = () => {}, keepAliveMs?: number, config = loadAppConfig({ env: {} })): ReconcileService {
  return startReconcileService(config, {
    kafka,
    registry: {} as SchemaRegistry,
    clickhouse: {} as ClickHouseClient,
    connectors: () => [],
    promRegistry: new Registry(),
    demo: false,
    say: () => {},
    log,
    ...(keepAliveMs === undefined ? {} : { keepAliveMs }),
  });
}

const BODY = JSON.stringify({ from: '2026-11-30', to: '2026-11-30' });
const lines = () => {
  const out: Record<string, unknown>[] = [];
  return { out, write: (line: string) => void out.push(JSON.parse(line) as Record<string, unknown>) };
};

let service: ReconcileService | undefined;
afterEach(() => service?.stop(0));

describe('reconcile service (POST /reconcile)', () => {
  it('refuses a second run while one is in progress: no verdict, exit 3', async () => {
    service = serviceOn(stuckKafka);
    void service.handle(BODY, () => {});
    const second = lines();
    await service.handle(BODY, second.write);
    // Which run holds it, and since when.
    expect(second.out).toEqual([{ error: expect.stringMatching(/^a reconcile run is already in progress in this job \(another client's, 2026-11-30, started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); try again when it finished$/), exitCode: 3 }]);
  });

  it('aborts a run whose client went away, logs it, and takes the next run at once', async () => {
    const logged: { event: string; fields?: Record<string, unknown> }[] = [];
    service = serviceOn(refusingKafka, (_level, event, fields) => void logged.push({ event, ...(fields ? { fields } : {}) }));
    const client = new AbortController();
    const first = lines();
    const running = service.handle(BODY, first.write, client.signal);
    client.abort(new Error('the client went away'));
    // Bounded: the old service kept the run for the stages' 30 s wait and the whole pass after it.
    const ended = await Promise.race([running.then(() => 'ended'), new Promise((r) => setTimeout(r, 5_000, 'still running'))]);
    expect(ended).toBe('ended');
    expect(first.out).toEqual([{ keepAlive: 15 }, { error: 'the client went away', exitCode: 3 }]);
    expect(logged).toEqual([{ event: 'reconcile.aborted', fields: expect.objectContaining({ from: '2026-11-30', to: '2026-11-30', reason: 'the client went away' }) }]);
    const nextClient = new AbortController();
    const next = lines();
    const again = service.handle(BODY, next.write, nextClient.signal);
    nextClient.abort(new Error('done'));
    await again;
    expect(next.out).toEqual([{ keepAlive: 15 }, { error: 'done', exitCode: 3 }]);
  });

  it('stops once the run in progress ended, so the job closes the connectors a repair feeds through only then', async () => {
    service = serviceOn(refusingKafka);
    const { out, write } = lines();
    const running = service.handle(BODY, write);
    await service.stop();
    expect(out).toEqual([{ keepAlive: 15 }, { error: 'shutdown requested', exitCode: 3 }]);
    await running;
  });

  it('stops after a bounded wait when the run does not end (a broker that never answers), and says so', async () => {
    const logged: { event: string; fields?: Record<string, unknown> }[] = [];
    service = serviceOn(stuckKafka, (_level, event, fields) => void logged.push({ event, ...(fields ? { fields } : {}) }));
    void service.handle(BODY, () => {});
    await service.stop(200);
    expect(logged).toEqual([{ event: 'reconcile.stop_late', fields: { graceMs: 200, running: 'ops 2026-11-30 .. 2026-11-30' } }]);
  });

  it('waits 10 s for a run that does not end when the job asks it to stop (README: "waits up to 10 s for it to end")', async () => {
    const logged: string[] = [];
    service = serviceOn(stuckKafka, (_level, event) => void logged.push(event));
    void service.handle(BODY, () => {});
    vi.useFakeTimers();
    try {
      const stopped = service.stop();
      await vi.advanceTimersByTimeAsync(9_999);
      expect(logged).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await stopped;
      expect(logged).toEqual(['reconcile.stop_late']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('logs a scheduled run that the job\'s stop (Ctrl-C) ended as aborted, at info, not as a failed run', async () => {
    const logged: { level: string; event: string; fields?: Record<string, unknown> }[] = [];
    const config = loadAppConfig({ env: {}, overrides: (doc) => void Object.assign(doc, { reconcile: { schedule: { enabled: true, initialDelaySec: 0, includeToday: true } } }) });
    // Only the schedule's first timer is faked, to start its run now; the run itself and the stop use real timers.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      service = serviceOn(refusingKafka, (level, event, fields) => void logged.push({ level, event, ...(fields ? { fields } : {}) }), undefined, config);
      vi.advanceTimersToNextTimer();
    } finally {
      vi.useRealTimers();
    }
    const busy = lines();
    await service.handle(BODY, busy.write);
    expect(busy.out).toEqual([{ error: expect.stringContaining("a reconcile run is already in progress in this job (the schedule's"), exitCode: 3 }]);
    await service.stop();
    expect(logged).toEqual([{ level: 'info', event: 'reconcile.aborted', fields: expect.objectContaining({ reason: 'shutdown requested', trigger: 'schedule' }) }]);
  });

  // A run's steps can be minutes apart without a progress line: the client tells them from a hung job by these.
  it('writes a keep-alive line at once and every interval while a run is in progress, and none once it ended', { timeout: 5_000 }, async () => {
    service = serviceOn(refusingKafka, undefined, 20);
    const out: unknown[] = [];
    let beats!: () => void;
    const threeBeats = new Promise<void>((resolve) => (beats = resolve));
    const running = service.handle(BODY, (line) => {
      out.push(JSON.parse(line));
      if (out.length === 3) beats();
    });
    await threeBeats;
    expect(out).toEqual([{ keepAlive: 0.02 }, { keepAlive: 0.02 }, { keepAlive: 0.02 }]);
    // The run takes a moment to reach its next safe point: keep-alives go on until it ended, none after.
    await service.stop();
    await running;
    expect(out.at(-1)).toEqual({ error: 'shutdown requested', exitCode: 3 });
    expect(new Set(out.slice(0, -1).map((line) => JSON.stringify(line)))).toEqual(new Set(['{"keepAlive":0.02}']));
    const ended = out.length;
    // Past three more intervals: the run's end stopped them (no timer left behind).
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(out).toHaveLength(ended);
  });

  // The ops port leaves informative lines out for a client that does not read; the line that ends the answer never.
  it('writes keep-alive lines as informative and the line that ends the answer as not', async () => {
    service = serviceOn(refusingKafka);
    const out: [unknown, boolean | undefined][] = [];
    const running = service.handle(BODY, (line, informative) => void out.push([JSON.parse(line), informative]));
    await service.stop();
    await running;
    expect(out).toEqual([
      [{ keepAlive: 15 }, true],
      [{ error: 'shutdown requested', exitCode: 3 }, undefined],
    ]);
  });

  it('refuses a request that is not one: exit 64', async () => {
    service = serviceOn(stuckKafka);
    const { out, write } = lines();
    await service.handle(JSON.stringify({ from: 'last week', to: '2026-11-30' }), write);
    expect(out).toEqual([{ error: 'from needs a day as YYYY-MM-DD, got "last week"', exitCode: 64 }]);
  });

  // Each refused before any run starts, with one line and exit 64, as `cdrflow reconcile` refuses its flags.
  const REFUSED: [string, string][] = [
    [JSON.stringify({ from: '2099-01-01', to: '1999-01-01' }), 'to must not be before from'],
    [JSON.stringify({ from: '1999-01-01', to: '2099-01-01' }), 'from 1999-01-01 and to 2099-01-01 cover 36526 days; one run covers at most 366 (a year): split it into several runs'],
    [JSON.stringify({ from: '2026-02-31', to: '2026-03-01' }), 'from needs a day as YYYY-MM-DD, got "2026-02-31"'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-13-01' }), 'to needs a day as YYYY-MM-DD, got "2026-13-01"'],
    [JSON.stringify({ to: '2026-11-30' }), 'from is required'],
    [JSON.stringify({ from: 20261130, to: '2026-11-30' }), 'from must be a string (a day YYYY-MM-DD, "today" or "yesterday"), got 20261130'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 'x' }), 'tzOffsetMinutes must be a number, got "x"'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 90 }), 'tzOffsetMinutes must be a whole-hour offset in minutes within ±840 (480 = +08:00), got 90'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 100000 }), 'tzOffsetMinutes must be a whole-hour offset in minutes within ±840 (480 = +08:00), got 100000'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: null }), 'tzOffsetMinutes must be a number, got null'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', settleSec: '3600' }), 'settleSec must be a number, got "3600"'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', settleSec: -1 }), 'settleSec needs an integer 0..604800, got -1'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', settleSec: 1.5 }), 'settleSec needs an integer 0..604800, got 1.5'],
    ['{"from":"2026-11-30","to":"2026-11-30","settleSec":1e400}', 'settleSec needs an integer 0..604800, got Infinity'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', settleSec: 1e12 }), 'settleSec needs an integer 0..604800, got 1000000000000'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', vendors: ['tencent-cc'] }), 'vendors needs one of the vendors (tencent-ccc, tencent-trtc, huawei-privatenumber, alibaba-lvms), got "tencent-cc"'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', vendors: 'tencent-ccc' }), 'vendors must be a list of strings (or null for all), got "tencent-ccc"'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', vendors: [] }), 'vendors names no vendor: leave it out for every vendor'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', tenants: [1400] }), 'tenants must be a list of strings (or null for all), got [1400]'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', tenants: [''] }), 'tenants needs a tenant, got ""'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', repair: 'yes' }), 'repair must be true or false, got "yes"'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', trigger: 'schedule' }), 'trigger must be "ops" (or "cli", as cdrflow reconcile sends it), got "schedule": only the job\'s schedule makes scheduled runs'],
    [JSON.stringify({ from: '2026-11-30', to: '2026-11-30', form: '2026-11-29' }), 'unknown key "form"; a request takes from, to, vendors, tenants, tzOffsetMinutes, settleSec, repair, trigger'],
    ['{"__proto__":{},"from":"2026-11-30","to":"2026-11-30"}', 'unknown key "__proto__"; a request takes from, to, vendors, tenants, tzOffsetMinutes, settleSec, repair, trigger'],
    ['[]', 'the request must be a JSON object, got []'],
    ['null', 'the request must be a JSON object, got null'],
    ['"2026-11-30"', 'the request must be a JSON object, got "2026-11-30"'],
  ];
  it.each(REFUSED)('refuses %s before any run: exit 64, one line', async (body, error) => {
    let started = false;
    service = serviceOn({ admin: () => ((started = true), (stuckKafka as unknown as { admin: () => unknown }).admin()) } as unknown as Kafka);
    const { out, write } = lines();
    // The old handler started a full run on some of these; a run on this Kafka never ends, so do not wait for one.
    await Promise.race([service.handle(body, write), new Promise((r) => setTimeout(r, 500))]);
    expect(out).toEqual([{ error, exitCode: 64 }]);
    expect(started).toBe(false);
  });

  it('refuses a body that is not JSON with one line', async () => {
    service = serviceOn(stuckKafka);
    const { out, write } = lines();
    await service.handle('{"from": "2026-11-30",\n', write);
    expect(out).toHaveLength(1);
    expect(out[0]!['exitCode']).toBe(64);
    expect(out[0]!['error']).toMatch(/^the request body is not JSON: [^\n]+$/);
  });
});

describe('parseRequest', () => {
  const NOW = Date.parse('2026-12-01T10:00:00Z');

  it('takes what `cdrflow reconcile` sends when it forwards to the job, and records the run as ops', () => {
    const sent: ReconcileRequest = { from: '2026-11-29', to: '2026-11-30', vendors: ['tencent-ccc'], tenants: ['1400000101'], tzOffsetMinutes: 480, settleSec: 120, repair: true, trigger: 'cli' };
    expect(parseRequest(JSON.parse(JSON.stringify(sent)), { now: NOW })).toEqual({ ...sent, trigger: 'ops' });
    const all: ReconcileRequest = { ...sent, vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: false };
    expect(parseRequest(JSON.parse(JSON.stringify(all)), { now: NOW })).toEqual({ ...all, trigger: 'ops' });
  });

  it('gives the defaults, the configured settle time, and the CLI\'s day words', () => {
    expect(parseRequest({ from: 'yesterday', to: 'today' }, { now: NOW, settleSec: 600 })).toEqual({ from: '2026-11-30', to: '2026-12-01', vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 600, repair: false, trigger: 'ops' });
    // 20:00 UTC is already the next day at +08:00.
    expect(parseRequest({ from: 'today', to: 'today', tzOffsetMinutes: 480 }, { now: Date.parse('2026-12-01T20:00:00Z') })).toMatchObject({ from: '2026-12-02', to: '2026-12-02', settleSec: 3600 });
  });
});

// Reconcile told a raw topic's vendor by its name alone: a receiver's or poller's own topic (`lvms-in`) was never
// reconciled, and one named for another vendor was counted as that vendor's. The configured source decides first.
it("reconciles a source's own raw topic as the source's vendor", () => {
  const config = loadAppConfig({
    env: {},
    overrides: (doc) => void Object.assign(doc, { receiver: { lvms: { apps: [{ appKey: 'l', appSecret: 's' }], topic: 'lvms-in' } }, normalize: { inputTopics: ['cdr.raw.tencent-ccc', 'lvms-in'] } }),
  });
  const deps = reconcileDepsOf(config, { kafka: {} as Kafka, registry: {} as SchemaRegistry, clickhouse: {} as ClickHouseClient, connectors: [] });
  expect(deps.rawTopics).toEqual([
    { vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' },
    { vendor: 'alibaba-lvms', topic: 'lvms-in' },
  ]);
});
