// Reconcile inside a running process: the dependencies built from the main job's configuration (the CLI without a
// running job builds the same ones), one run at a time, the ops endpoint `POST /reconcile` (progress lines, then the
// outcome, as NDJSON) that `cdrflow reconcile` uses while `cdrflow start` runs, and the daily schedule.
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import type { Kafka } from '../core/kafka.ts';
import { CdrflowError } from '../core/errors.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { NormalizeOptions } from '../transforms/normalize/index.ts';
import { rawTopicVendor, type AppConfig } from './config.ts';
import { parseTzOffset, relativeDay } from '../reconcile/days.ts';
import { DEFAULT_RECONCILE_SETTLE_SEC } from '../reconcile/config.ts';
import { ReconcileMetrics } from '../reconcile/metrics.ts';
import { checkRequest, JSON_REQUEST_NAMES, runReconcile, silentStream, type NoteLevel, type ReconcileDeps, type ReconcileRequest } from '../reconcile/reconcile.ts';
import { quote } from '../core/input-limits.ts';
import { outcomeJson, renderDrift } from '../reconcile/render.ts';
import { EXIT_NO_VERDICT, type ReconcileOutcome } from '../reconcile/model.ts';
import { EXIT_USAGE } from '../core/exit-codes.ts';

/** The run that holds the job's reconcile: what a refused one is told. */
interface RunningReconcile {
  trigger: string;
  from: string;
  to: string;
  since: Date;
}

/** Another run holds the job's reconcile (one at a time): no verdict about the data, try again later. */
export class ReconcileBusyError extends Error {
  override readonly name = 'ReconcileBusyError';
  constructor(running: RunningReconcile) {
    // Which run, and since when: the demo's schedule starts one a minute after start-up and it takes minutes.
    const whose = running.trigger === 'schedule' ? 'the schedule' : running.trigger === 'ops' ? 'another client' : running.trigger;
    const days = running.from === running.to ? running.from : `${running.from} .. ${running.to}`;
    super(`a reconcile run is already in progress in this job (${whose}'s, ${days}, started ${running.since.toISOString().slice(0, 19)}Z); try again when it finished`);
  }
}

export function reconcileDepsOf(
  config: AppConfig,
  parts: { kafka: Kafka; registry: SchemaRegistry; clickhouse: ClickHouseClient; connectors: PullConnector[]; metrics?: ReconcileMetrics; progress?: NodeJS.WriteStream; log?: (msg: string, level?: NoteLevel) => void },
): ReconcileDeps {
  const rawTopics = config.normalize.inputTopics.flatMap((topic) => {
    const vendor = rawTopicVendor(config, topic);
    return vendor ? [{ vendor, topic }] : [];
  });
  return {
    kafka: parts.kafka,
    registry: parts.registry,
    clickhouse: parts.clickhouse,
    database: config.sink.database,
    table: config.sink.table,
    rawTopics,
    normalizedTopic: config.normalize.outputTopic,
    deadLetterTopic: config.normalize.deadLetterTopic,
    groups: { normalize: { groupId: config.normalize.groupId, topics: config.normalize.inputTopics }, sink: { groupId: config.sink.groupId, topic: config.sink.inputTopic } },
    connectors: parts.connectors,
    mapping: config.normalize.mapping as NormalizeOptions,
    settings: config.reconcile,
    ...(parts.metrics ? { metrics: parts.metrics } : {}),
    ...(parts.progress ? { progress: parts.progress } : {}),
    ...(parts.log ? { log: parts.log } : {}),
  };
}

/** The keys of a POST /reconcile body: a ReconcileRequest as `cdrflow reconcile` sends it when it forwards to the job. */
const REQUEST_KEYS = ['from', 'to', 'vendors', 'tenants', 'tzOffsetMinutes', 'settleSec', 'repair', 'trigger'] as const;

/**
 * The request as the ops endpoint receives it (parsed JSON): the types of a JSON body checked here, then the same
 * check as the flags of `cdrflow reconcile` (checkRequest). `from` / `to` as YYYY-MM-DD, `today` or `yesterday`;
 * `vendors` / `tenants` a list of strings or null (all); `tzOffsetMinutes` a whole-hour offset in minutes (default 0,
 * UTC days); `settleSec` whole seconds (default reconcile.settleSec); `repair` a boolean. `trigger` is accepted as
 * `cdrflow reconcile` sends it ('cli' or 'ops') but the run is recorded as 'ops': only the job's schedule makes
 * scheduled runs. Throws CdrflowError 'config' with one line for anything else: the endpoint answers exit code 64.
 */
export function parseRequest(body: unknown, options: { settleSec?: number; now?: number } = {}): ReconcileRequest {
  const refuse = (message: string): never => {
    throw new CdrflowError('config', message);
  };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return refuse(`the request must be a JSON object, got ${quote(body)}`);
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!(REQUEST_KEYS as readonly string[]).includes(key)) refuse(`unknown key ${quote(key)}; a request takes ${REQUEST_KEYS.join(', ')}`);
  }
  const text = (k: string): string | undefined => {
    const v = b[k];
    if (v !== undefined && typeof v !== 'string') refuse(`${k} must be a string (a day YYYY-MM-DD, "today" or "yesterday"), got ${quote(v)}`);
    return v as string | undefined;
  };
  const list = (k: string): string[] | null => {
    const v = b[k];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return refuse(`${k} must be a list of strings (or null for all), got ${quote(v)}`);
    return v as string[];
  };
  const num = (k: string): number | undefined => {
    const v = b[k];
    if (v !== undefined && typeof v !== 'number') refuse(`${k} must be a number, got ${quote(v)}`);
    return v as number | undefined;
  };
  const repair = b['repair'];
  if (repair !== undefined && typeof repair !== 'boolean') refuse(`repair must be true or false, got ${quote(repair)}`);
  const trigger = b['trigger'];
  if (trigger !== undefined && trigger !== 'cli' && trigger !== 'ops') refuse(`trigger must be "ops" (or "cli", as cdrflow reconcile sends it), got ${quote(trigger)}: only the job's schedule makes scheduled runs`);
  return checkRequest(
    { from: text('from'), to: text('to'), vendors: list('vendors'), tenants: list('tenants'), tz: num('tzOffsetMinutes'), settleSec: num('settleSec'), repair: repair as boolean | undefined },
    JSON_REQUEST_NAMES,
    { now: options.now ?? Date.now(), trigger: 'ops', defaults: () => ({ settleSec: options.settleSec ?? DEFAULT_RECONCILE_SETTLE_SEC }) },
  );
}

/** A body as one line for a refusal: JSON.parse's message, whitespace folded. */
function notJson(err: unknown): string {
  return `the request body is not JSON: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim()}`;
}

/** A write stream that turns progress output into lines for `onLine`. */
function lineStream(onLine: (line: string) => void): NodeJS.WriteStream {
  let buffer = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      buffer += chunk.toString('utf8');
      const parts = buffer.split(/[\r\n]/);
      buffer = parts.pop() ?? '';
      for (const p of parts) {
        // Progress redraws a bar with ANSI codes on a terminal; the stream given to it is not one, but be safe.
        const line = p.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g'), '').trim();
        if (line) onLine(line);
      }
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
}

export interface ReconcileService {
  /**
   * `POST /reconcile`: NDJSON lines {"progress": "..."} and, while the run is in progress, {"keepAlive": <seconds>}
   * at once and every RECONCILE_KEEPALIVE_MS, then {"outcome": …} (its exitCode: 0 agree, 1 drift, 2 a vendor
   * API unreadable) or {"error": "...", "exitCode": N}: 3 when the run could not be made (another run in progress,
   * Kafka, ClickHouse or the registry unreachable, any other failure: no verdict), 64 for a malformed request.
   * `signal` (the client left) aborts the run at its next safe point, which frees the job for the next run. Progress
   * and keep-alive lines are written `informative`: the ops port leaves them out for a client that does not read.
   */
  handle(body: string, write: (line: string, informative?: boolean) => void, signal?: AbortSignal): Promise<void>;
  /**
   * Stops the schedule and aborts the run in progress, resolving once it ended or after `graceMs` at most: the job
   * closes the connectors a repair re-feeds through only then (they were closed under it: "the Kafka producer is
   * closed"). A run stops at its next safe point, which a step waiting on an unanswering broker may never reach.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * How often POST /reconcile writes a keep-alive line while its run is in progress. Progress lines can be minutes apart
 * (a big day's topic scan, a repair's OPTIMIZE or its wait for the pipeline), so without one the client cannot tell a
 * long step from a hung job or a network path that drops packets; `cdrflow reconcile` gives up after a few missed
 * (JOB_SILENT_MS in cli/commands/reconcile.ts). 15 s: a few bytes a run, and well above a busy job's timer delays.
 */
export const RECONCILE_KEEPALIVE_MS = 15_000;

/** How long stop() waits for the run in progress to end after aborting it. */
export const RECONCILE_STOP_GRACE_MS = 10_000;

export function startReconcileService(
  config: AppConfig,
  parts: { kafka: Kafka; registry: SchemaRegistry; clickhouse: ClickHouseClient; connectors: () => PullConnector[]; promRegistry: Registry; demo: boolean; say: (msg: string) => void; log: (level: 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void; keepAliveMs?: number },
): ReconcileService {
  const keepAliveMs = parts.keepAliveMs ?? RECONCILE_KEEPALIVE_MS;
  const keepAlive = JSON.stringify({ keepAlive: keepAliveMs / 1000 });
  const metrics = new ReconcileMetrics(parts.promRegistry);
  let running: RunningReconcile | undefined;
  /** Settles when the run in progress ends, whichever way. */
  let ended: Promise<unknown> = Promise.resolve();
  const abort = new AbortController();
  const run = (req: ReconcileRequest, progress: NodeJS.WriteStream, log: (msg: string, level?: NoteLevel) => void, client?: AbortSignal): Promise<ReconcileOutcome> => {
    if (running) throw new ReconcileBusyError(running);
    const deps = reconcileDepsOf(config, { ...parts, connectors: parts.connectors(), metrics, progress, log });
    const signal = client ? AbortSignal.any([abort.signal, client]) : abort.signal;
    const outcome = runReconcile(deps, req, signal).finally(() => (running = undefined));
    running = { trigger: req.trigger, from: req.from, to: req.to, since: new Date() };
    ended = outcome.catch(() => undefined);
    return outcome;
  };

  // The demo reconciles every few minutes (yesterday and today up to the cut-off) so the figures and gauges show.
  const schedule = parts.demo ? { ...config.reconcile.schedule, enabled: true, intervalSec: 300, initialDelaySec: 60, includeToday: true } : config.reconcile.schedule;
  let timer: NodeJS.Timeout | undefined;
  if (schedule.enabled) {
    const tz = parseTzOffset(schedule.tz);
    const tick = () => {
      const now = Date.now();
      const req: ReconcileRequest = {
        from: relativeDay(now, tz, Math.max(schedule.daysBack, schedule.includeToday ? 0 : 1)),
        to: relativeDay(now, tz, schedule.includeToday ? 0 : 1),
        vendors: null,
        tenants: null,
        tzOffsetMinutes: tz,
        // The demo's calls are minutes old: a short settle lets its runs show them (the second look handles in-flight ones).
        settleSec: parts.demo ? 300 : config.reconcile.settleSec,
        repair: schedule.repair,
        trigger: 'schedule',
      };
      try {
        void run(req, silentStream(), (msg, level = 'warn') => parts.log(level, 'reconcile.note', { msg })).then(
          (o) => {
            const report = o.after ?? o.before;
            parts.log(o.exitCode === 0 ? 'info' : 'warn', 'reconcile.finished', { from: req.from, to: req.to, exit: o.exitCode, rows: report.rows.length, driftRows: report.driftRows, runId: report.runId });
            if (o.exitCode !== 0) for (const line of renderDrift(report)) parts.log('warn', 'reconcile.drift', { line: line.trim() });
          },
          (err: unknown) =>
            // The job's own stop (Ctrl-C) ends a run it asked to end: no failure of the run, nothing to alarm about.
            abort.signal.aborted
              ? parts.log('info', 'reconcile.aborted', { from: req.from, to: req.to, repair: req.repair, reason: (err as Error).message, trigger: 'schedule' })
              : parts.log('error', 'reconcile.failed', { error: (err as Error).message }),
        );
      } catch (err) {
        parts.log('info', 'reconcile.skipped', { reason: (err as Error).message });
      }
    };
    timer = setTimeout(function again() {
      tick();
      timer = setTimeout(again, schedule.intervalSec * 1000);
      timer.unref();
    }, schedule.initialDelaySec * 1000);
    timer.unref();
    parts.say(`reconcile: every ${schedule.intervalSec}s (first in ${schedule.initialDelaySec}s), ${schedule.includeToday ? 'yesterday and today' : `${schedule.daysBack} day(s) back`}${schedule.repair ? ', with repair' : ''}; figures on /metrics (cdrflow_reconcile_*) and in reconcile_runs`);
  }

  return {
    async handle(body, write, signal) {
      let req: ReconcileRequest;
      try {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body || '{}');
        } catch (err) {
          throw new CdrflowError('config', notJson(err));
        }
        req = parseRequest(parsed, { settleSec: config.reconcile.settleSec });
      } catch (err) {
        // Refused as malformed: the usage exit code and one line, as `cdrflow reconcile` refuses its flags.
        write(JSON.stringify({ error: (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim(), exitCode: EXIT_USAGE }));
        return;
      }
      const started = Date.now();
      let beat: NodeJS.Timeout | undefined;
      try {
        const outcome = run(
          req,
          lineStream((line) => write(JSON.stringify({ progress: line }), true)),
          // Once the client left, the run's last words (what a stopped repair had done) go to the job's log.
          (msg, level = 'warn') => (signal?.aborted ? parts.log(level, 'reconcile.note', { msg }) : write(JSON.stringify({ progress: msg }), true)),
          signal,
        );
        // The first at once: the client then knows this job sends them, and holds it to their rhythm from the start.
        write(keepAlive, true);
        beat = setInterval(() => write(keepAlive, true), keepAliveMs);
        beat.unref();
        write(JSON.stringify({ outcome: outcomeJson(await outcome) }));
      } catch (err) {
        // Nobody reads the answer of a run its client left: the job's log says it stopped.
        if (signal?.aborted && !(err instanceof ReconcileBusyError)) {
          parts.log('warn', 'reconcile.aborted', { from: req.from, to: req.to, repair: req.repair, reason: (signal.reason as Error | undefined)?.message ?? 'aborted', afterMs: Date.now() - started });
        }
        write(JSON.stringify({ error: err instanceof Error ? err.message : String(err), exitCode: EXIT_NO_VERDICT }));
      } finally {
        clearInterval(beat);
      }
    },
    async stop(graceMs = RECONCILE_STOP_GRACE_MS) {
      if (timer) clearTimeout(timer);
      abort.abort(new Error('shutdown requested'));
      let grace: NodeJS.Timeout | undefined;
      const late = await Promise.race([ended.then(() => false), new Promise<boolean>((resolve) => (grace = setTimeout(resolve, graceMs, true)))]);
      clearTimeout(grace);
      if (late) parts.log('warn', 'reconcile.stop_late', { graceMs, running: running && `${running.trigger} ${running.from} .. ${running.to}` });
    },
  };
}
