// The human output of a reconcile: one table row per vendor × tenant × day (drift rows highlighted, in colour only on
// a terminal), the drift in words under it, then the repair and the table after it. JSON output drops the full id
// lists (a sample of each stays).
// Tenants, call ids, a vendor's refusal and a repair's error come from outside: every cell and line is printable
// (terminalText) before the table's own colour is added. renderDrift stays as it is for the job's log, which escapes.
import type { ReconcileOutcome, ReconcileReport, ReconcileRow, RepairAction } from './model.ts';
import { terminalText } from '../core/input-limits.ts';

const SAMPLE = 50;
const fmt = (n: number) => n.toLocaleString('en-US');

function cells(r: ReconcileRow): string[] {
  const view = (v: { calls: number } | null) => (v ? fmt(v.calls) : '–');
  const source = r.sourceKind === 'raw-topic' ? '(raw)' : r.source ? fmt(r.source.records) : r.sourceBeyondHorizon !== undefined ? 'beyond' : r.drift.some((d) => d.kind === 'source_refused') ? 'refused' : 'unreachable';
  const sourceMin = r.sourceKind === 'raw-topic' ? fmt(r.raw.minutes) : r.source ? fmt(r.source.minutes) : '?';
  return [
    r.vendor,
    r.tenant,
    r.day,
    source,
    fmt(r.raw.records),
    fmt(r.normalized.records),
    fmt(r.deadLettered),
    fmt(r.clickhouse.count),
    fmt(r.clickhouse.uniq),
    `${view(r.views.cdr_daily)}/${view(r.views.cdr_hourly)}/${view(r.views.cdr_end_status)}`,
    `${sourceMin}/${fmt(r.clickhouse.minutes)}`,
    fmt(r.unmergedDuplicates),
    fmt(r.inFlight),
    r.drift.length === 0 ? 'ok' : `DRIFT ${r.drift.map((d) => d.kind).join(',')}`,
  ];
}

const HEADER = ['vendor', 'tenant', 'day', 'source', 'raw', 'normalized', 'dlq', 'ch FINAL', 'ch uniq', 'daily/hourly/status', 'min src/ch', 'unmerged', 'in flight', 'result'];
const RIGHT = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

export function renderTable(report: ReconcileReport, colour: boolean): string {
  const table = [HEADER, ...report.rows.map((r) => cells(r).map(terminalText))];
  const widths = HEADER.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => (RIGHT.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(HEADER)];
  report.rows.forEach((r, i) => {
    const text = line(table[i + 1]!);
    out.push(colour && r.drift.length > 0 ? `\x1b[31m${text}\x1b[0m` : text);
  });
  if (report.rows.length === 0) out.push('(no calls in scope)');
  return out.join('\n');
}

export function renderDrift(report: ReconcileReport): string[] {
  const out: string[] = [];
  for (const r of report.rows) {
    for (const d of r.drift) {
      const list = d.ids ?? d.sample ?? [];
      const ids = list.length > 0 ? ` — ${list.slice(0, 5).join(', ')}${d.count > 5 ? `, … (${d.count})` : ''}` : '';
      out.push(`  ${r.vendor} ${r.tenant} ${r.day}: ${d.kind}${d.repairable ? ' (repairable)' : ''}: ${d.detail}${ids}`);
    }
  }
  return out;
}

/** What a repair that re-fed and merged nothing says (it makes no after pass): with only unrepairable lines, something needed repair that could not be done. */
export const nothingRepaired = (actions: readonly RepairAction[]): string => (actions.length === 0 ? 'nothing needed repair' : 'nothing re-fed or merged');

/** One action of a repair in words: under the table, and in the log of a repair that was stopped or failed. */
export const actionLine = (a: RepairAction): string =>
  `${a.kind}${a.vendor ? ` ${a.vendor}` : ''}${a.tenant ? ` ${a.tenant}` : ''}: ${a.detail}${a.kind === 'unrepairable' && a.sample ? ` — ${a.sample.slice(0, 5).join(', ')}` : ''}`;

/**
 * The verdict under a pass's table. `unrepairable`: records the repair before it listed as such, which an after pass
 * that agrees no longer sees (repairExitCode: the run exits 1).
 */
function summaryLine(report: ReconcileReport, unrepairable = 0): string {
  if (report.exitCode === 2) {
    const refused = [...new Set(report.rows.filter((r) => r.drift.some((d) => d.kind === 'source_refused')).map((r) => r.vendor))];
    const parts = [...(report.sourceUnreachable.length > 0 ? [`source unreachable: ${report.sourceUnreachable.join(', ')}`] : []), ...(refused.length > 0 ? [`the vendor refused the request: ${refused.join(', ')}`] : [])];
    return `${parts.join('; ')} (exit 2)`;
  }
  const beyond = report.rows.filter((r) => r.sourceBeyondHorizon !== undefined).length;
  const unchecked = beyond > 0 ? `, ${beyond} of them not checked against the vendor (beyond what it serves)` : '';
  if (report.exitCode === 1) return `drift in ${report.driftRows} of ${report.rows.length} vendor-tenant-day row(s)${unchecked} (exit 1)`;
  if (unrepairable > 0) return `all ${report.rows.length} vendor-tenant-day row(s) agree${unchecked}, but the repair listed ${fmt(unrepairable)} record(s) as unrepairable (exit 1)`;
  return `all ${report.rows.length} vendor-tenant-day row(s) agree${unchecked} (exit 0)`;
}

/** The line under the table that says what its columns mean (the README's example output shows it too). */
export const COLUMNS_LEGEND =
  'columns: source = vendor API (pull) or (raw) = the raw topic is the source (push), beyond = a day further back than the vendor can be queried or keeps (not asked for); dlq = dead-lettered by normalize or the sink and not normalized or stored since; views = cdr_daily/cdr_hourly/cdr_end_status calls (– = not comparable: a day in progress; its hourly figure covers the whole hours before the cut-off); min = billable minutes, source vs cdr FINAL; unmerged = rows a reader without FINAL would count twice; in flight = records missing on a layer in a first look at a day in progress but there a moment later (not drift)';

export function renderOutcome(outcome: ReconcileOutcome, colour: boolean): string {
  const { before } = outcome;
  const out: string[] = [];
  out.push(terminalText(`cdrflow reconcile ${before.scope.from} .. ${before.scope.to} (${before.scope.tz}), run ${before.runId}`));
  for (const n of before.notes) out.push(terminalText(`note: ${n}`));
  out.push('', outcome.after ? 'before repair:' : '', renderTable(before, colour));
  out.push(COLUMNS_LEGEND);
  const drift = renderDrift(before).map(terminalText);
  if (drift.length > 0) out.push('drift:', ...drift);
  out.push(summaryLine(before));
  if (outcome.repair) {
    out.push('', 'repair:');
    if (!outcome.after) out.push(`  ${nothingRepaired(outcome.repair)} (no after pass)`);
    for (const a of outcome.repair) out.push(terminalText(`  ${actionLine(a)}`));
  }
  if (outcome.after) {
    out.push('', 'after repair:', renderTable(outcome.after, colour));
    const after = renderDrift(outcome.after).map(terminalText);
    if (after.length > 0) out.push('drift:', ...after);
    const listed = (outcome.repair ?? []).filter((a) => a.kind === 'unrepairable').reduce((n, a) => n + a.records, 0);
    out.push(summaryLine(outcome.after, listed));
  }
  return out.filter((l, i) => !(l === '' && i === 0)).join('\n') + '\n';
}

/** The outcome as JSON: id lists cut to a sample. */
export function outcomeJson(outcome: ReconcileOutcome): unknown {
  return JSON.parse(
    JSON.stringify(outcome, (key, value: unknown) => {
      if (key === 'ids' && Array.isArray(value)) return undefined;
      if (value && typeof value === 'object' && 'ids' in value && Array.isArray((value as { ids: unknown[] }).ids)) {
        const v = value as { ids: string[] };
        return { ...v, ids: undefined, sample: v.ids.slice(0, SAMPLE) };
      }
      return value;
    }),
  );
}
