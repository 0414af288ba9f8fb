// The daily reconcile schedule (README, "History and alerting": `reconcile.schedule` makes `cdrflow start` reconcile
// yesterday every day, with daysBack, includeToday, repair, tz, initialDelaySec, intervalSec). The run itself is
// replaced by a stub that records the request and the clock is vitest's: what is pinned is which days each scheduled
// run covers at the instant it fires, when it fires, and that a failed run leaves the schedule going.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../core/kafka.ts';
import { loadAppConfig } from './config.ts';
import { startReconcileService, type ReconcileService } from './reconcile-service.ts';
import type { ReconcileRequest } from '../reconcile/reconcile.ts';
import type { ReconcileOutcome } from '../reconcile/model.ts';

const runs = vi.hoisted(() => ({ requests: [] as ReconcileRequest[], next: [] as (() => Promise<unknown>)[] }));

vi.mock('../reconcile/reconcile.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../reconcile/reconcile.ts')>()),
  // Records what the schedule asked for; answers with the next queued result, else an agreeing verdict.
  runReconcile: (_deps: unknown, req: ReconcileRequest) => {
    runs.requests.push(req);
    return (runs.next.shift() ?? (() => Promise.resolve(AGREE)))();
  },
}));

const AGREE = { exitCode: 0, before: { rows: [], driftRows: 0, runId: 'stub' } } as unknown as ReconcileOutcome;

interface Schedule {
  daysBack?: number;
  includeToday?: boolean;
  repair?: boolean;
  tz?: string;
  initialDelaySec?: number;
  intervalSec?: number;
}

let service: ReconcileService | undefined;
let logged: { level: string; event: string; fields?: Record<string, unknown> }[];

function scheduled(schedule: Schedule, settleSec = 3_600): ReconcileService {
  return started({ settleSec, schedule: { enabled: true, ...schedule } });
}

/** The job's reconcile service with `reconcile` as its configuration section (absent: the defaults), as the demo or not. */
function started(reconcile: Record<string, unknown> | undefined, demo = false): ReconcileService {
  const config = loadAppConfig({ env: {}, overrides: (doc) => void (reconcile ? (doc['reconcile'] = reconcile) : delete doc['reconcile']) });
  service = startReconcileService(config, {
    kafka: {} as Kafka,
    registry: {} as SchemaRegistry,
    clickhouse: {} as ClickHouseClient,
    connectors: () => [],
    promRegistry: new Registry(),
    demo,
    say: () => {},
    log: (level, event, fields) => void logged.push({ level, event, ...(fields ? { fields } : {}) }),
  });
  return service;
}

/** The request of the one run made when the schedule first fires at `at` (start-up initialDelaySec before it). */
async function firstRequestAt(at: string, schedule: Schedule): Promise<ReconcileRequest> {
  const delaySec = schedule.initialDelaySec ?? 900;
  vi.setSystemTime(Date.parse(at) - delaySec * 1000);
  scheduled(schedule);
  await vi.advanceTimersByTimeAsync(delaySec * 1000);
  expect(runs.requests).toHaveLength(1);
  return runs.requests[0]!;
}

const request = (from: string, to: string, extra: Partial<ReconcileRequest> = {}): ReconcileRequest => ({
  from,
  to,
  vendors: null,
  tenants: null,
  tzOffsetMinutes: 0,
  settleSec: 3_600,
  repair: false,
  trigger: 'schedule',
  ...extra,
});

beforeEach(() => {
  vi.useFakeTimers();
  runs.requests.length = 0;
  runs.next.length = 0;
  logged = [];
});

afterEach(() => {
  void service?.stop(0);
  service = undefined;
  vi.useRealTimers();
});

describe('reconcile.schedule: the days of each run', () => {
  it.each([
    // [fires at (UTC), schedule, from, to]
    ['2026-12-01T23:59:30Z', { daysBack: 1 }, '2026-11-30', '2026-11-30'],
    ['2026-12-02T00:00:30Z', { daysBack: 1 }, '2026-12-01', '2026-12-01'],
    ['2026-12-02T00:00:30Z', { daysBack: 3 }, '2026-11-29', '2026-12-01'],
    ['2026-12-02T00:00:30Z', { daysBack: 1, includeToday: true }, '2026-12-01', '2026-12-02'],
    ['2026-12-02T00:00:30Z', { daysBack: 3, includeToday: true }, '2026-11-29', '2026-12-02'],
    ['2026-12-01T23:59:30Z', { daysBack: 3, includeToday: true }, '2026-11-28', '2026-12-01'],
    // daysBack 0 without today still means yesterday: a run never covers nothing.
    ['2026-12-02T00:00:30Z', { daysBack: 0 }, '2026-12-01', '2026-12-01'],
    ['2026-12-02T00:00:30Z', { daysBack: 0, includeToday: true }, '2026-12-02', '2026-12-02'],
  ] as const)('at %s with %o: %s .. %s (UTC days)', async (at, schedule, from, to) => {
    expect(await firstRequestAt(at, schedule)).toEqual(request(from, to));
  });

  it.each([
    // Midnight at +08:00 is 16:00 UTC: the day rolls over there, not at midnight UTC.
    ['2026-12-01T15:59:30Z', { daysBack: 1 }, '2026-11-30', '2026-11-30'],
    ['2026-12-01T16:00:30Z', { daysBack: 1 }, '2026-12-01', '2026-12-01'],
    // Around midnight UTC it is 08:00 at +08:00: the same +08:00 day on both sides.
    ['2026-12-01T23:59:30Z', { daysBack: 1 }, '2026-12-01', '2026-12-01'],
    ['2026-12-02T00:00:30Z', { daysBack: 1 }, '2026-12-01', '2026-12-01'],
    ['2026-12-01T16:00:30Z', { daysBack: 3, includeToday: true }, '2026-11-29', '2026-12-02'],
    ['2026-12-01T15:59:30Z', { daysBack: 3 }, '2026-11-28', '2026-11-30'],
  ] as const)('tz +08:00, at %s with %o: %s .. %s', async (at, schedule, from, to) => {
    expect(await firstRequestAt(at, { ...schedule, tz: '+08:00' })).toEqual(request(from, to, { tzOffsetMinutes: 480 }));
  });

  it('passes repair and the configured settle time on', async () => {
    vi.setSystemTime(Date.parse('2026-12-02T06:00:00Z'));
    scheduled({ repair: true, initialDelaySec: 0 }, 120);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.requests).toEqual([request('2026-12-01', '2026-12-01', { repair: true, settleSec: 120 })]);
  });
});

describe('reconcile.schedule: when it runs', () => {
  it('runs first initialDelaySec after start-up, then every intervalSec, each run over the days of its own instant', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    scheduled({ initialDelaySec: 900, intervalSec: 86_400 });
    await vi.advanceTimersByTimeAsync(900_000 - 1);
    expect(runs.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs.requests.map((r) => r.from)).toEqual(['2026-11-30']);
    await vi.advanceTimersByTimeAsync(86_400_000 - 1);
    expect(runs.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs.requests.map((r) => r.from)).toEqual(['2026-11-30', '2026-12-01']);
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(runs.requests.map((r) => r.from)).toEqual(['2026-11-30', '2026-12-01', '2026-12-02']);
    expect(logged.filter((l) => l.event === 'reconcile.finished')).toHaveLength(3);
  });

  it('keeps going after a failed run: logged, and the next run is made on time', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    runs.next.push(() => Promise.reject(new Error('Kafka unreachable')));
    scheduled({ initialDelaySec: 60, intervalSec: 3_600 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs.requests).toHaveLength(1);
    expect(logged).toEqual([{ level: 'error', event: 'reconcile.failed', fields: { error: 'Kafka unreachable' } }]);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(runs.requests).toHaveLength(2);
    expect(logged.at(-1)).toMatchObject({ level: 'info', event: 'reconcile.finished', fields: { from: '2026-11-30', to: '2026-11-30', exit: 0 } });
  });

  it('skips a turn while the previous run still goes, and runs at the next one', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    let finish!: () => void;
    runs.next.push(() => new Promise((resolve) => (finish = () => resolve(AGREE))));
    scheduled({ initialDelaySec: 60, intervalSec: 600 });
    await vi.advanceTimersByTimeAsync(60_000 + 600_000);
    expect(runs.requests).toHaveLength(1);
    expect(logged).toEqual([{ level: 'info', event: 'reconcile.skipped', fields: { reason: expect.stringMatching(/^a reconcile run is already in progress in this job \(the schedule's, .+, started .+Z\); try again when it finished$/) } }]);
    finish();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(runs.requests).toHaveLength(2);
  });

  it('stops with the job', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    void scheduled({ initialDelaySec: 60, intervalSec: 600 }).stop(0);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(runs.requests).toHaveLength(0);
  });
});

// README ("History and alerting"): `reconcile.schedule` is off by default, and on it reconciles yesterday every day; the
// demo turns it on, a first run a minute after start-up, then every 300 s over yesterday and today.
describe('reconcile.schedule: the defaults README.md gives', () => {
  it('is off by default: a job that runs for weeks makes no run of its own', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    started(undefined);
    await vi.advanceTimersByTimeAsync(30 * 86_400_000);
    expect(runs.requests).toEqual([]);
  });

  it('turned on and nothing else said, reconciles yesterday once a day', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    started({ schedule: { enabled: true } });
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(runs.requests).toEqual([request('2026-11-30', '2026-11-30')]);
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(runs.requests).toEqual([request('2026-11-30', '2026-11-30'), request('2026-12-01', '2026-12-01')]);
  });

  it('in the demo, runs a minute after start-up, then every 300 s, over yesterday and today', async () => {
    vi.setSystemTime(Date.parse('2026-12-01T02:00:00Z'));
    started(undefined, true);
    await vi.advanceTimersByTimeAsync(60_000 - 1);
    expect(runs.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(300_000 - 1);
    expect(runs.requests.map((r) => [r.from, r.to])).toEqual([['2026-11-30', '2026-12-01']]);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs.requests.map((r) => [r.from, r.to, r.trigger])).toEqual([
      ['2026-11-30', '2026-12-01', 'schedule'],
      ['2026-11-30', '2026-12-01', 'schedule'],
    ]);
  });
});
