// The figures behind the status line, `cdrflow status` and /status: per stage records in / out / dead-lettered and
// consumer lag, what ClickHouse holds (distinct CDRs and billable minutes, read with FINAL so re-sends never count
// twice) and the connector checkpoints with their age. A running job fills the in/out counters; computed without a
// running job, only what Kafka and ClickHouse themselves know is shown.
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { chNumber, quoteIdentifier, readRows, STATUS_READ } from '../core/clickhouse.ts';
import { terminalReason } from '../core/input-limits.ts';
import type { Checkpoint } from '../core/checkpoints.ts';
import { VENDORS, type Vendor } from '../core/topology.ts';

// The snapshot's shape is a schema, its types inferred from it: `cdrflow status` checks the answer of the ops port with
// it (app/ops-client.ts), which may come from another program or another version of cdrflow.
const count = z.number().nullable();

const stageFiguresSchema = z.object({
  /** Records consumed and committed by this process (null: not known without the running job). */
  in: count,
  out: count,
  deadLettered: count,
  /** Messages behind the log end, summed over the stage's input partitions (null: could not be read). */
  lag: count,
});
export type StageFigures = z.infer<typeof stageFiguresSchema>;

const intakeFiguresSchema = z.object({
  kind: z.enum(['poll', 'push']),
  /** Records acknowledged by Kafka on the raw topic by this process. */
  records: count,
  /** Vendor API errors (poll) or refused pushes (push) by code. */
  errors: z.record(z.string(), z.number()),
});
export type IntakeFigures = z.infer<typeof intakeFiguresSchema>;

const vendorRowSchema = z.object({ vendor: z.string(), cdrs: z.number(), answered: z.number(), billableMinutes: z.number() });
export type VendorRow = z.infer<typeof vendorRowSchema>;

const checkpointRowSchema = z.object({
  id: z.string(),
  watermark: z.string(),
  updatedAt: z.string(),
  /** Seconds since it was saved; below 0 when it was saved ahead of the clock of whoever computed it. */
  ageSec: z.number(),
  /** Seconds from the watermark to now; below 0 when the watermark is ahead of the clock of whoever computed it. */
  watermarkDelaySec: z.number(),
});
export type CheckpointRow = z.infer<typeof checkpointRowSchema>;

export const statusSnapshotSchema = z.object({
  at: z.string(),
  source: z.enum(['running job', 'computed directly']),
  pid: z.number().nullable(),
  uptimeSec: z.number().nullable(),
  demo: z.boolean(),
  clickhouseTarget: z.string(),
  components: z.record(z.string(), z.string()),
  intake: z.partialRecord(z.enum(VENDORS), intakeFiguresSchema),
  normalize: stageFiguresSchema,
  sink: stageFiguresSchema,
  /**
   * cdr.dlq -> cdr_dead_letters; `skipped`: dead letters it could not load (logged); `alreadyStored`: read again after
   * a crash and already in the table (committed, not loaded twice). in = out + skipped + alreadyStored. Absent when disabled.
   */
  dlqLoader: stageFiguresSchema.extend({ skipped: count, alreadyStored: count }).optional(),
  clickhouse: z.union([z.object({ cdrs: z.number(), billableMinutes: z.number(), byVendor: z.array(vendorRowSchema) }), z.object({ error: z.string() })]),
  checkpoints: z.array(checkpointRowSchema),
  /**
   * The live checkpoint ids of the tenants the running job polls (computed directly: those its configuration names); a
   * `:live` checkpoint not among them is of a tenant polled before (removed from the config), kept in the topic for
   * good. Absent when not known (an answer of an earlier cdrflow).
   */
  polledCheckpoints: z.array(z.string()).optional(),
  /** Why the checkpoints could not be read (computed directly, Kafka not reachable): `checkpoints` is then unknown, not none. */
  checkpointsError: z.string().optional(),
  /** Demo only: what the simulated push vendors did (retries, duplicates, refusals by the flaky network). */
  demoTraffic: z
    .object({
      huawei: z.object({ recordsGenerated: z.number(), attempts: z.number(), retries: z.number(), duplicatesPushed: z.number(), failures: z.record(z.string(), z.number()), gaveUpRecords: z.number() }),
      lvms: z.object({ sent: z.number(), accepted: z.number(), rejected: z.number(), retries: z.number(), failedAfterRetries: z.number() }),
      networkRefusals: z.number(),
    })
    .optional(),
});
export type StatusSnapshot = z.infer<typeof statusSnapshotSchema>;

/**
 * The most rows the figures are read to (STATUS_READ): one per vendor (four), and a table written by hand a few more. A
 * server (CLICKHOUSE_URL) answering without end held the job's memory, read whole on every /status and status line.
 */
export const MAX_FIGURES_ROWS = STATUS_READ.rows;

// Each row checked: another program answering in the server's place gave NaN and objects as figures, which the
// snapshot carried on and `cdrflow status` then refused whole.
const figuresRowSchema = z.object({ vendor: z.string(), cdrs: chNumber, answered: chNumber, minutes: chNumber });

/** Distinct CDRs, answered calls and billable minutes per vendor, deduplicated by the table (FINAL). */
export async function clickhouseFigures(client: ClickHouseClient, database: string, table = 'cdr'): Promise<VendorRow[]> {
  const rows = await readRows(client, {
    query: `SELECT vendor, count() AS cdrs, countIf(is_answered) AS answered, sum(billable_minutes) AS minutes
            FROM ${quoteIdentifier(database)}.${quoteIdentifier(table)} FINAL GROUP BY vendor ORDER BY vendor`,
    what: 'the figures',
    row: figuresRowSchema,
    bounds: STATUS_READ,
  });
  return rows.map((r) => ({ vendor: r.vendor, cdrs: r.cdrs, answered: r.answered, billableMinutes: r.minutes }));
}

export function totals(rows: VendorRow[]): { cdrs: number; billableMinutes: number; byVendor: VendorRow[] } {
  return { cdrs: rows.reduce((s, r) => s + r.cdrs, 0), billableMinutes: rows.reduce((s, r) => s + r.billableMinutes, 0), byVendor: rows };
}

export function checkpointRows(entries: [string, Checkpoint][], nowMs: number): CheckpointRow[] {
  return entries
    .map(([id, cp]) => ({
      id,
      watermark: cp.watermark,
      updatedAt: cp.updatedAt,
      // Signed, as the watermark delay: saved ahead of this clock (by a clock running ahead, or before this clock stepped
      // back) is below 0; 0 read as saved just now for as long as the clock stays behind, the poller stuck or not.
      ageSec: Math.round((nowMs - Date.parse(cp.updatedAt)) / 1000),
      // Signed: a watermark ahead of this clock (saved by a clock running ahead, or a clock stepped back) is below 0,
      // not 0, which read as a poller fully caught up.
      watermarkDelaySec: Math.round((nowMs - Date.parse(cp.watermark)) / 1000),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

const SHORT: Record<Vendor, string> = { 'tencent-ccc': 'ccc', 'tencent-trtc': 'trtc', 'huawei-privatenumber': 'huawei', 'alibaba-lvms': 'lvms' };

/**
 * A component's name as a person reads it: the snapshot's keys come from whatever answers on the ops port, so escaped
 * and cut as a reason is (a line break or an escape sequence in a name broke the report as in a state).
 */
const componentName = (name: string): string => terminalReason(name, 60);

/** The components' states on one line (`normalize running, sink waiting …`): names and states escaped and cut. */
export const componentsText = (components: Record<string, string>): string =>
  Object.entries(components)
    .map(([name, state]) => `${componentName(name)} ${terminalReason(state)}`)
    .join(', ');

const n = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toLocaleString('en-US'));

/** One compact line (stderr every few seconds while `start` runs). */
export function formatStatusLine(s: StatusSnapshot): string {
  const time = s.at.slice(11, 19);
  const intake = VENDORS.filter((v) => s.intake[v])
    .map((v) => `${SHORT[v]} ${n(s.intake[v]!.records)}`)
    .join(' ');
  // Why ClickHouse could not be read is a server's error text (CLICKHOUSE_URL), whose escape sequences and line breaks
  // reached the terminal as sent, of any length: escaped and cut as every reason a person reads is.
  const ch = 'error' in s.clickhouse ? `clickhouse ? (${terminalReason(s.clickhouse.error, 40)})` : `clickhouse ${n(s.clickhouse.cdrs)} CDRs ${n(s.clickhouse.billableMinutes)} billable min`;
  // Why the job is not ready, when it is not: a stage waiting out an outage says what it waits for, in its error's
  // words, which a broker or a server wrote (and may quote a row): escaped like the ClickHouse error above.
  const notRunning = Object.entries(s.components).filter(([, state]) => state !== 'running');
  return [
    `${time}`,
    `raw ${intake || '–'}`,
    `normalize ${n(s.normalize.in)}→${n(s.normalize.out)} dlq ${n(s.normalize.deadLettered)} lag ${n(s.normalize.lag)}`,
    `sink ${n(s.sink.in)}→${n(s.sink.out)} dlq ${n(s.sink.deadLettered)} lag ${n(s.sink.lag)}`,
    ...(s.dlqLoader ? [`dlq-loader ${n(s.dlqLoader.in)}→${n(s.dlqLoader.out)} skipped ${n(s.dlqLoader.skipped)}${s.dlqLoader.alreadyStored ? ` already stored ${n(s.dlqLoader.alreadyStored)}` : ''} lag ${n(s.dlqLoader.lag)}`] : []),
    ch,
    ...(notRunning.length > 0 ? [`not ready: ${notRunning.map(([name, state]) => `${componentName(name)} ${terminalReason(state.slice(0, 90))}`).join('; ')}`] : []),
  ].join(' | ');
}

function age(sec: number): string {
  if (sec < 120) return `${sec}s`;
  if (sec < 7200) return `${Math.round(sec / 60)}m`;
  return `${(sec / 3600).toFixed(1)}h`;
}

/** When a checkpoint was saved, from its (signed) age. */
function saved(ageSec: number): string {
  return ageSec < 0 ? `${age(-ageSec)} ahead of the clock` : `${age(ageSec)} ago`;
}

/** The checkpoints other than the polled live ones `cdrflow status` lists: the most recently saved (a running backfill's among them). */
export const MAX_OTHER_CHECKPOINTS_SHOWN = 5;

/**
 * The checkpoints worth a line each: every live one of a tenant the job polls (whose age is what an operator reads the
 * list for), and of the others (one per backfill range ever run and one per tenant polled before, kept in the topic
 * for good) the most recently saved few; a year of backfills made the report thousands of lines. A snapshot that does
 * not say what is polled counts every live one as polled. In id order, as the snapshot has them.
 */
function checkpointsShown(s: StatusSnapshot): { shown: CheckpointRow[]; notPolled: Set<string>; more: number; moreNotPolled: boolean } {
  const rows = s.checkpoints;
  const polled = s.polledCheckpoints ? new Set(s.polledCheckpoints) : undefined;
  const isLive = (c: CheckpointRow) => c.id.endsWith(':live') && (polled?.has(c.id) ?? true);
  const notPolled = new Set(rows.filter((c) => c.id.endsWith(':live') && !isLive(c)).map((c) => c.id));
  const recent = new Set(
    rows
      .filter((c) => !isLive(c))
      .sort((a, b) => a.ageSec - b.ageSec)
      .slice(0, MAX_OTHER_CHECKPOINTS_SHOWN),
  );
  const shown = rows.filter((c) => isLive(c) || recent.has(c));
  const moreNotPolled = rows.some((c) => notPolled.has(c.id) && !recent.has(c));
  return { shown, notPolled, more: rows.length - shown.length, moreNotPolled };
}

/** The multi-line form for `cdrflow status`. */
export function formatStatus(s: StatusSnapshot): string {
  const lines: string[] = [];
  lines.push(`cdrflow status at ${s.at} (${s.source}${s.pid ? `, PID ${s.pid}` : ''}${s.uptimeSec !== null ? `, up ${age(s.uptimeSec)}` : ''}${s.demo ? ', demo' : ''})`);
  lines.push(`ClickHouse: ${s.clickhouseTarget}`);
  // A stage's state is its error's words while it waits out an outage (a broker's or a server's text): escaped and cut
  // here, as in the status line; the snapshot (--json, /status) keeps it whole.
  if (Object.keys(s.components).length > 0) lines.push(`components: ${componentsText(s.components)}`);
  lines.push('');
  lines.push('stage                             in         out     dlq      lag');
  for (const v of VENDORS) {
    const i = s.intake[v];
    if (!i) continue;
    const errs = Object.entries(i.errors).map(([code, c]) => `${code}×${c}`).join(' ');
    lines.push(`${`${v} (${i.kind})`.padEnd(28)}${n(i.records).padStart(10)}  ${n(i.records).padStart(10)}  ${'–'.padStart(6)}  ${'–'.padStart(7)}${errs ? `  errors: ${errs}` : ''}`);
  }
  for (const [name, f] of [['normalize', s.normalize], ['clickhouse sink', s.sink]] as const) {
    lines.push(`${name.padEnd(28)}${n(f.in).padStart(10)}  ${n(f.out).padStart(10)}  ${n(f.deadLettered).padStart(6)}  ${n(f.lag).padStart(7)}`);
  }
  // The loader never dead-letters: its dlq column is what it skipped (could not decode or store; logged).
  const l = s.dlqLoader;
  if (l) lines.push(`${'dlq loader (dlq = skipped)'.padEnd(28)}${n(l.in).padStart(10)}  ${n(l.out).padStart(10)}  ${n(l.skipped).padStart(6)}  ${n(l.lag).padStart(7)}`);
  // Read again after a crash between an insert and its commit: in = out + skipped + these.
  if (l?.alreadyStored) lines.push(`  of which ${n(l.alreadyStored)} read again after a restart were in cdr_dead_letters already (committed, not loaded twice)`);
  lines.push('');
  if ('error' in s.clickhouse) lines.push(`ClickHouse: could not be read: ${terminalReason(s.clickhouse.error)}`);
  else {
    lines.push(`ClickHouse: ${n(s.clickhouse.cdrs)} CDRs, ${n(s.clickhouse.billableMinutes)} billable minutes`);
    for (const r of s.clickhouse.byVendor) {
      lines.push(`  ${r.vendor.padEnd(22)}${n(r.cdrs).padStart(8)} CDRs  ${n(r.answered).padStart(8)} answered  ${n(r.billableMinutes).padStart(9)} billable min`);
    }
  }
  if (s.demoTraffic) {
    const { huawei: h, lvms: l, networkRefusals } = s.demoTraffic;
    lines.push('');
    lines.push(`demo vendors: the network refused ${n(networkRefusals)} ${networkRefusals === 1 ? 'push (vendors retried it)' : 'pushes (vendors retried them)'}`);
    lines.push(`  huawei-privatenumber  ${n(h.recordsGenerated)} records, ${n(h.attempts)} pushes, ${n(h.retries)} re-pushes, ${n(h.duplicatesPushed)} duplicate batches, ${n(h.gaveUpRecords)} records given up`);
    lines.push(`  alibaba-lvms          ${n(l.sent)} submissions, ${n(l.accepted)} accepted, ${n(l.rejected)} refused, ${n(l.retries)} retried, ${n(l.failedAfterRetries)} failed after retries`);
  }
  lines.push('');
  if (s.checkpointsError !== undefined) lines.push(`checkpoints: could not be read: ${terminalReason(s.checkpointsError)}`);
  else if (s.checkpoints.length === 0) lines.push('checkpoints: none');
  else {
    const { shown, notPolled, more, moreNotPolled } = checkpointsShown(s);
    // The id column is as wide as the longest id shown (a backfill's id carries its whole range).
    const idWidth = Math.max(45, ...shown.map((c) => c.id.length));
    const wmWidth = Math.max(24, ...shown.map((c) => c.watermark.length));
    lines.push(`checkpoints  ${' '.repeat(idWidth - 9)}${'watermark'.padEnd(wmWidth + 2)}saved`);
    // A removed tenant's live checkpoint ages for good: said not to be polled, or it reads as a stuck poller.
    for (const c of shown) lines.push(`  ${c.id.padEnd(idWidth)}  ${c.watermark.padEnd(wmWidth)}  ${saved(c.ageSec)}${notPolled.has(c.id) ? ' (not polled)' : ''}${c.watermarkDelaySec < 0 ? ` (watermark ${age(-c.watermarkDelaySec)} ahead of the clock)` : ''}`);
    if (more > 0) lines.push(`  … and ${n(more)} more saved earlier (backfill ranges${moreNotPolled ? ', tenants no longer polled' : ''}; cdrflow status --json lists every checkpoint)`);
  }
  return lines.join('\n');
}
