// One reconcile run: read every layer for the scope, compare, and with --repair close what can be closed, then read
// again and report before / after. Used by `cdrflow reconcile`, by the running job (ops POST /reconcile) and by its
// schedule; every run is recorded in `reconcile_runs` and, in the job, exposed as gauges.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from '../core/kafka.ts';
import { VENDORS, isVendor, type Vendor } from '../core/topology.ts';
import { RECONCILE_READ } from '../core/clickhouse.ts';
import { CdrflowError } from '../core/errors.ts';
import { quote } from '../core/input-limits.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { NormalizeOptions } from '../transforms/normalize/index.ts';
import { beyondHorizonNotes, bucketsNeedingIds, compareLayers, confirmDrift, driftNotes, exitCodeOf, hasEdgeDrift, newerInClickHouseNotes, repairExitCode } from './compare.ts';
import { checkTzMinutes, cutoffFor, FIRST_DAY, formatTz, LAST_DAY, parseDay, parseTzOffset, relativeDay, type DayScope } from './days.ts';
import { ClickHouseReader, readDeadLetters, readLayers, readNormalized, readRaw, readSource, refileUndated } from './layers.ts';
import type { ReconcileOutcome, ReconcileReport, ReconcileTrigger } from './model.ts';
import { repair } from './repair.ts';
import { nothingRepaired } from './render.ts';
import { splitBucketKey } from './tally.ts';
import { waitForSnapshot, type StageGroups } from './pipeline.ts';
import { MAX_SETTLE_SEC, type ReconcileConfig } from './config.ts';
import { recordRun, recordRunFailure } from './history.ts';
import type { ReconcileMetrics } from './metrics.ts';

export interface ReconcileRequest {
  from: string;
  to: string;
  vendors: Vendor[] | null;
  tenants: string[] | null;
  tzOffsetMinutes: number;
  settleSec: number;
  repair: boolean;
  /** Who asked (see ReconcileTrigger): only `schedule` runs set the alerting gauges. */
  trigger: ReconcileTrigger;
}

/**
 * A request as asked for, before it is checked: the flags of `cdrflow reconcile` or the body of the job's
 * POST /reconcile (each has made sure of the types already). Absent = the default.
 */
export interface RequestInput {
  /** YYYY-MM-DD, `today` or `yesterday` (in the day convention of `tz`). */
  from?: string | undefined;
  to?: string | undefined;
  vendors?: readonly string[] | null | undefined;
  tenants?: readonly string[] | null | undefined;
  /** `+08:00` / `UTC` as `--tz` takes it, or minutes (`tzOffsetMinutes`). */
  tz?: string | number | undefined;
  /** Seconds: the text of `--settle` or the number `settleSec`. */
  settleSec?: string | number | undefined;
  repair?: boolean | undefined;
}

/** What the asker calls each field, so that a refusal names what was written (`--to` on the command line, `to` in JSON). */
export interface RequestNames {
  from: string;
  to: string;
  vendors: string;
  tenants: string;
  tz: string;
  settle: string;
}

/**
 * Days one run may cover. A run asks the vendor APIs for every window of its range through the running pollers' own
 * clients and rate limits: a range of a century (one POST /reconcile away) would hold the live pollers' quota for
 * hours. A year, as a backfill of a year, is the largest range a user needs at once.
 */
export const MAX_RECONCILE_DAYS = 366;

export const CLI_REQUEST_NAMES: RequestNames = { from: '--from', to: '--to', vendors: '--vendor', tenants: '--tenant', tz: '--tz', settle: '--settle' };
export const JSON_REQUEST_NAMES: RequestNames = { from: 'from', to: 'to', vendors: 'vendors', tenants: 'tenants', tz: 'tzOffsetMinutes', settle: 'settleSec' };

/**
 * The one check of a reconcile request, for `cdrflow reconcile` and for the job's POST /reconcile alike: real days
 * (`today` / `yesterday` in the request's day convention), `to` not before `from`, a whole-hour offset within ±14:00,
 * at most MAX_RECONCILE_DAYS days, known vendors, non-empty tenants, a settle time of whole seconds 0..MAX_SETTLE_SEC. `defaults` (the configuration's
 * settle time) is read once everything but the settle time has passed, so a malformed request is refused before
 * any configuration is read. Throws CdrflowError 'config' with one line naming the field: a usage error (exit 64).
 */
export function checkRequest(input: RequestInput, names: RequestNames, ctx: { now: number; trigger: ReconcileTrigger; defaults: () => { settleSec: number } }): ReconcileRequest {
  const refuse = (message: string): never => {
    throw new CdrflowError('config', message);
  };
  const tz = input.tz === undefined ? 0 : typeof input.tz === 'number' ? checkTzMinutes(names.tz, input.tz) : parseTzOffset(input.tz, names.tz);
  const day = (name: string, value: string | undefined): string => {
    if (value === undefined) return refuse(`${name} is required`);
    if (value === 'today') return relativeDay(ctx.now, tz, 0);
    if (value === 'yesterday') return relativeDay(ctx.now, tz, 1);
    const d = parseDay(name, value);
    // 0001-01-01 was stored as 1970-01-01 in reconcile_runs, where its runs could not be told apart.
    if (d < FIRST_DAY || d > LAST_DAY) refuse(`${name} must be a day from ${FIRST_DAY} to ${LAST_DAY} (what ClickHouse's Date holds), got ${quote(value)}`);
    return d;
  };
  const from = day(names.from, input.from);
  const to = day(names.to, input.to);
  if (to < from) refuse(`${names.to} must not be before ${names.from}`);
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  if (days > MAX_RECONCILE_DAYS) refuse(`${names.from} ${from} and ${names.to} ${to} cover ${days} days; one run covers at most ${MAX_RECONCILE_DAYS} (a year): split it into several runs`);
  const list = (name: string, values: readonly string[] | null | undefined, what: string): string[] | null => {
    if (values === undefined || values === null) return null;
    // An empty list would reconcile nothing and answer "everything agrees".
    if (values.length === 0) refuse(`${name} names no ${what}: leave it out for every ${what}`);
    for (const v of values) if (v.trim() === '') refuse(`${name} needs a ${what}, got ${quote(v)}`);
    return [...new Set(values)];
  };
  const vendors = list(names.vendors, input.vendors, 'vendor');
  for (const v of vendors ?? []) if (!isVendor(v)) refuse(`${names.vendors} needs one of the vendors (${VENDORS.join(', ')}), got ${quote(v)}`);
  const tenants = list(names.tenants, input.tenants, 'tenant');
  const settle = (value: string | number): number => {
    const n = typeof value === 'number' ? value : /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_SETTLE_SEC) refuse(`${names.settle} needs an integer 0..${MAX_SETTLE_SEC}, got ${typeof value === 'number' ? String(value) : quote(value)}`);
    return n;
  };
  // The configuration is read before the settle time is checked, as `cdrflow reconcile` always did (a configuration
  // that cannot be read is exit 78 whatever --settle says).
  const defaults = ctx.defaults();
  const settleSec = settle(input.settleSec ?? defaults.settleSec);
  return { from, to, vendors: vendors as Vendor[] | null, tenants, tzOffsetMinutes: tz, settleSec, repair: input.repair ?? false, trigger: ctx.trigger };
}

export interface ReconcileDeps {
  kafka: Kafka;
  registry: SchemaRegistry;
  /** Read for the figures; written for the history and for merging duplicates. */
  clickhouse: ClickHouseClient;
  database: string;
  table: string;
  rawTopics: { vendor: Vendor; topic: string }[];
  normalizedTopic: string;
  deadLetterTopic: string;
  groups: StageGroups;
  /** The pull connectors whose API is the source (the running ones inside the job: same client, same rate limit). */
  connectors: PullConnector[];
  mapping: NormalizeOptions;
  settings: Pick<ReconcileConfig, 'sourceMaxAttempts' | 'repairWaitSec' | 'scanTimeoutSec' | 'confirmSec'>;
  /** Progress bars / lines; default: nowhere. */
  progress?: NodeJS.WriteStream;
  /**
   * Notes of the run that are not part of its answer. `info` for the routine ones (a day in progress looked at again,
   * nothing to repair), which a scheduled run must not log as warnings every few minutes; the rest default to `warn`.
   */
  log?: (msg: string, level?: NoteLevel) => void;
  now?: () => number;
  metrics?: ReconcileMetrics;
}

export type NoteLevel = 'info' | 'warn';

/** A progress stream that drops everything (scheduled runs). */
export function silentStream(): NodeJS.WriteStream {
  return new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
}

const PUSH_NOTE =
  'push vendors (huawei-privatenumber, alibaba-lvms): the raw topic — what the receiver acknowledged — is the source of truth; a record the vendor never delivered cannot be seen or repaired from this side (ask the vendor for its bill and import missing records with `cdrflow import`)';

async function reconcilePass(deps: ReconcileDeps, req: ReconcileRequest, scope: DayScope, signal: AbortSignal) {
  const startedAt = new Date((deps.now ?? Date.now)());
  const progress = deps.progress ?? silentStream();
  const log = deps.log ?? (() => {});
  const vendors = (req.vendors ?? [...VENDORS]).filter((v) => deps.rawTopics.some((t) => t.vendor === v));
  const connectors = deps.connectors.filter((c) => vendors.includes(c.source.vendor));
  const apiVendors = new Set(connectors.map((c) => c.source.vendor));
  const notes: string[] = [];
  notes.push(`days are ${scope.tzOffsetMinutes === 0 ? 'UTC days' : `days at ${formatTz(scope.tzOffsetMinutes)}`} of the call time (started_at, else received_at); calls that started at or after ${new Date(scope.cutoffMs).toISOString()} (now - ${req.settleSec}s settle) are left out: they may still be running or in flight`);
  if (vendors.some((v) => v === 'huawei-privatenumber' || v === 'alibaba-lvms')) notes.push(PUSH_NOTE);

  // Let the live stages catch up first, so records in flight between layers are not reported as drift.
  const settled = await waitForSnapshot(deps.kafka, deps.groups, { timeoutMs: 30_000, signal });
  if (!settled.caughtUp) notes.push(`normalize / sink had not caught up with Kafka within 30 s (${settled.behind} record(s) behind; is the pipeline running?): records in flight show as drift`);

  const source = await readSource(connectors, scope, req.tenants, deps.mapping, { signal, maxAttempts: deps.settings.sourceMaxAttempts, progress, log, now: (deps.now ?? Date.now)() });
  const timeoutMs = deps.settings.scanTimeoutSec * 1000;
  const rawTopics = deps.rawTopics.filter((t) => vendors.includes(t.vendor));
  // The source read gives up on an abort by itself (its tenants then read as unreachable): do not go on.
  signal.throwIfAborted();
  const dead = await readDeadLetters(deps.kafka, deps.registry, { deadLetter: deps.deadLetterTopic, normalized: deps.normalizedTopic, raw: new Set(rawTopics.map((t) => t.topic)) }, { progress, timeoutMs, signal });
  if (dead.undecodable > 0) notes.push(`${dead.undecodable} dead letter(s) could not be decoded (the dlq-loader skips them; they name no record, so the calls they refused count as not normalized or not in ClickHouse)`);
  const raw = await readRaw(deps.kafka, deps.registry, rawTopics, scope, req.tenants, deps.mapping, dead.rawOrigins, { progress, timeoutMs, signal, callTimesOf: source.undated });
  refileUndated(source, raw.callTimes, scope);
  if (raw.undecodable > 0) notes.push(`${raw.undecodable} raw message(s) could not be decoded (normalize dead-letters them; they have no call time to count by)`);
  if (raw.keyless > 0) notes.push(`${raw.keyless} raw record(s) of these days name no call (an empty tenant_id or natural_key: a producer other than cdrflow's?): normalize dead-letters them; they have no cdr_id to count by`);
  const { tally: normalized, sinkDead, undecodable } = await readNormalized(deps.kafka, deps.registry, deps.normalizedTopic, vendors, scope, req.tenants, dead.sinkOrigins, { progress, timeoutMs, signal });
  if (undecodable > 0) notes.push(`${undecodable} normalized message(s) could not be decoded (the sink dead-letters them; they name no call, so the calls they carried count as not normalized)`);
  signal.throwIfAborted();
  const reader = new ClickHouseReader(deps.clickhouse, deps.database, deps.table, RECONCILE_READ, signal);
  const ch = await reader.read(scope, vendors, req.tenants);
  const clickhouseIds = new Map<string, ReadonlyMap<string, number>>();
  // The daily views were read beside these figures: they stay their reference when a bucket's figures are read again.
  const viewBasis = new Map(ch.figures);
  const needing = bucketsNeedingIds({ normalized, sinkDead, clickhouse: ch.figures }, ch.fingerprints, ch.versionFingerprints);
  for (const [key, ids] of needing.known) clickhouseIds.set(key, ids);
  for (const key of needing.read) {
    const { vendor, tenant, day } = splitBucketKey(key);
    const bucket = await reader.ids(scope, vendor, tenant, day);
    clickhouseIds.set(key, bucket.ids);
    // The bucket's figures from the same read as its ids. The sink may have stored more since ch.read: its ids then
    // showed nothing missing while its count and minutes, read before, still fell short (a minutes drift no record
    // explained, on a day in progress).
    // Stored rows (without FINAL) were read once, before: rows stored since then are added, so the versions not merged
    // yet (stored - FINAL) stay what that read found.
    const before = ch.figures.get(key) ?? { count: 0, uniq: 0, minutes: 0, storedRows: 0 };
    ch.figures.set(key, { count: bucket.count, uniq: bucket.ids.size, minutes: bucket.minutes, storedRows: before.storedRows + Math.max(0, bucket.count - before.count) });
  }
  const rows = compareLayers({
    scope,
    sourceKind: (v) => (apiVendors.has(v) ? 'api' : 'raw-topic'),
    ...readLayers(source, raw, { tally: normalized, sinkDead }),
    clickhouse: ch.figures,
    views: ch.views,
    hourlyBasis: ch.hourlyBasis,
    viewBasis,
    partialDays: ClickHouseReader.partialDays(scope),
    clickhouseIds,
  });
  for (const v of vendors) {
    if ((v === 'tencent-ccc' || v === 'tencent-trtc') && !apiVendors.has(v) && rows.some((r) => r.vendor === v)) {
      notes.push(`${v}: no connector configured here, so its API was not read; the raw topic stands in as the source`);
    }
  }
  notes.push(...beyondHorizonNotes(rows));
  notes.push(...newerInClickHouseNotes({ normalized, sinkDead, clickhouseIds }));
  const exitCode = exitCodeOf(rows);
  const report: ReconcileReport = {
    runId: randomUUID(),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date((deps.now ?? Date.now)()).toISOString(),
    scope: { from: scope.from, to: scope.to, tz: formatTz(scope.tzOffsetMinutes), cutoff: new Date(scope.cutoffMs).toISOString(), vendors, tenants: req.tenants },
    rows,
    notes,
    driftRows: rows.filter((r) => r.drift.length > 0).length,
    sourceUnreachable: [...new Set([...source.unreachable.keys()].map((k) => k.split('\u0000')[0] as Vendor))],
    exitCode,
  };
  return { report, sourceWindows: source.windows };
}

/**
 * One pass; on a day still in progress with records missing between layers, a second pass `confirmSec` later, and only
 * what is missing both times counts as drift (the rest was in flight: polled, normalized or inserted meanwhile).
 */
async function lookTwiceAtTheEdge(deps: ReconcileDeps, req: ReconcileRequest, scope: DayScope, signal: AbortSignal) {
  const looked = await lookTwice(deps, req, scope, signal);
  // After the second look: a kind only in flight needs no explaining.
  looked.report.notes.push(...driftNotes(looked.report.rows));
  return looked;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function lookTwice(deps: ReconcileDeps, req: ReconcileRequest, scope: DayScope, signal: AbortSignal) {
  const first = await reconcilePass(deps, req, scope, signal);
  const partial = ClickHouseReader.partialDays(scope);
  if (deps.settings.confirmSec <= 0 || !hasEdgeDrift(first.report.rows, partial)) return first;
  (deps.log ?? (() => {}))(`records missing on a day still in progress: looking again in ${deps.settings.confirmSec}s (what was only in flight is not drift)`, 'info');
  await abortableDelay(deps.settings.confirmSec * 1000, signal);
  const second = await reconcilePass(deps, req, scope, signal);
  const rows = confirmDrift(first.report.rows, second.report.rows, partial);
  const exitCode = exitCodeOf(rows);
  second.report.rows = rows;
  second.report.exitCode = exitCode;
  second.report.driftRows = rows.filter((r) => r.drift.length > 0).length;
  second.report.startedAt = first.report.startedAt;
  second.report.notes.push(`a day still in progress showed records missing between layers; it was looked at again ${deps.settings.confirmSec}s later and only what was missing both times is drift ("in flight" counts the rest)`);
  return second;
}

/**
 * A whole run: reconcile, with `repair` repair and reconcile again, record it in reconcile_runs, update the gauges.
 * Throws when it cannot reach a verdict (Kafka, ClickHouse or the registry unreachable…): the CLI exits
 * EXIT_NO_VERDICT (3) then; a scheduled run's failure sets the gauges' exit code to 3 (their figures stay the last
 * verdict's), an ad-hoc run's leaves them alone. A run its own stop ended (`signal`: the job's Ctrl-C, the client
 * gone) did not fail: the gauges and the count stay as the last finished run left them.
 */
export async function runReconcile(deps: ReconcileDeps, req: ReconcileRequest, signal: AbortSignal = new AbortController().signal): Promise<ReconcileOutcome> {
  let outcome: ReconcileOutcome;
  try {
    outcome = await reconcileAndRepair(deps, req, signal);
  } catch (err) {
    // Exit 3 would raise CdrflowReconcileNoVerdict on every stop of the job, for a run nobody let finish.
    if (!signal.aborted) deps.metrics?.failed(req.trigger);
    throw err;
  }
  try {
    await recordRun(deps.clickhouse, deps.database, outcome, req.trigger);
  } catch (err) {
    (deps.log ?? (() => {}))(recordRunFailure(deps.database, err));
  }
  // The alerting gauges follow scheduled runs only; an ad-hoc run is counted, recorded and logged (see metrics.ts).
  deps.metrics?.observe(outcome, req.trigger);
  return outcome;
}

async function reconcileAndRepair(deps: ReconcileDeps, req: ReconcileRequest, signal: AbortSignal): Promise<ReconcileOutcome> {
  const now = deps.now ?? Date.now;
  // One cut-off for both passes, so before and after count the same calls.
  const scope: DayScope = { from: req.from, to: req.to, tzOffsetMinutes: req.tzOffsetMinutes, cutoffMs: cutoffFor(now(), req.settleSec) };
  const first = await lookTwiceAtTheEdge(deps, req, scope, signal);
  let outcome: ReconcileOutcome = { before: first.report, exitCode: first.report.exitCode };
  if (req.repair) {
    signal.throwIfAborted();
    const actions = await repair(first.report, {
      kafka: deps.kafka,
      registry: deps.registry,
      clickhouse: deps.clickhouse,
      database: deps.database,
      table: deps.table,
      connectors: deps.connectors,
      rawTopics: deps.rawTopics,
      normalizedTopic: deps.normalizedTopic,
      groups: deps.groups,
      piiKey: deps.mapping.piiKey,
      sourceWindows: first.sourceWindows,
      progress: deps.progress ?? silentStream(),
      signal,
      waitSec: deps.settings.repairWaitSec,
      scanTimeoutMs: deps.settings.scanTimeoutSec * 1000,
      log: deps.log ?? (() => {}),
    });
    // Nothing was re-fed or merged (a backfill that read nothing, say): an after pass (with its own second look, 90 s)
    // would only repeat the before.
    if (!actions.some((a) => a.kind !== 'unrepairable' && a.records > 0)) {
      (deps.log ?? (() => {}))(`${nothingRepaired(actions)}: no repair wait and no after pass`, 'info');
      return { before: first.report, repair: actions, exitCode: first.report.exitCode };
    }
    signal.throwIfAborted();
    const second = await lookTwiceAtTheEdge(deps, req, scope, signal);
    second.report.runId = first.report.runId;
    outcome = { before: first.report, repair: actions, after: second.report, exitCode: repairExitCode(second.report.exitCode, actions) };
  }
  return outcome;
}
