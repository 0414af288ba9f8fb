// An independent statement of what a normalized CDR that may be billed looks like, written apart from
// transforms/normalize/consistency.ts so the fuzz suite does not grade the code with its own rules: valid Avro, sane
// time order, a talk time its own stamps agree with, a bill no larger than the talk rounded up, nothing billed
// without talk, no date before 2000 or after the receipt.
import { avroType } from '../../core/avro.ts';

const cdrType = avroType('cdr-normalized.avsc');
const Y2K_ANYWHERE = Date.parse('1999-12-31T10:00:00Z');
const DAY = 86_400_000;

type Cdr = Record<string, unknown>;
const ms = (v: unknown): number | null => (v === null || v === undefined ? null : v instanceof Date ? v.getTime() : Date.parse(String(v)));

/** Problems of one output (JSON from the CLI or a NormalizedCdr); [] when it may be billed. */
export function oracleProblems(cdr: Cdr, receivedAt?: Date): string[] {
  const p: string[] = [];
  const revived = revive(cdr);
  const invalid: string[] = [];
  if (!cdrType.isValid(revived, { errorHook: (path, v) => invalid.push(`${path.join('.')} = ${String(JSON.stringify(v)).slice(0, 80)}`) })) {
    p.push(`not valid cdr-normalized.avsc: ${invalid.join('; ')}`);
  }
  const received = ms(revived['received_at']) ?? receivedAt?.getTime() ?? Date.now();
  const t = (f: string) => ms(revived[f]);
  for (const f of ['started_at', 'queued_at', 'ringing_at', 'answered_at', 'ended_at']) {
    const v = t(f);
    if (v !== null && (!(v >= Y2K_ANYWHERE) || v > received + DAY)) p.push(`${f} implausible`);
  }
  const started = t('started_at');
  const answered = t('answered_at');
  const ended = t('ended_at');
  if (started !== null && answered !== null && answered < started - 2000) p.push('answered before start');
  if (started !== null && ended !== null && ended < started - 2000) p.push('ended before start');
  if (answered !== null && ended !== null && ended < answered - 2000) p.push('ended before answer');
  const talk = Number(revived['talk_seconds']);
  const billable = Number(revived['billable_seconds']);
  // A call cut at 24 h may measure a few seconds more on stamps from different clocks, as talk may disagree with them.
  if (talk > 86_400 + 5) p.push('talk over 24 h');
  if (talk === 0 && billable !== 0) p.push('billed without talk');
  if (billable > Math.ceil(talk / 60) * 60 + 60) p.push('billed more than the talk rounded up');
  if (Number(revived['billable_minutes']) !== Math.ceil(billable / 60)) p.push('minutes disagree with seconds');
  if (talk > 0 && answered !== null && ended !== null && Math.abs(talk - (ended - answered) / 1000) > 5) p.push('talk disagrees with answer→end');
  if (talk > 0 && answered === null && started !== null && ended !== null && talk > (ended - started) / 1000 + 5) p.push('talk longer than the call');
  return p;
}

const TIME_COLUMNS = ['started_at', 'queued_at', 'ringing_at', 'answered_at', 'ended_at', 'received_at'];
const toDate = (v: unknown) => (typeof v === 'string' ? new Date(v) : v);

/** CLI JSON output back to what avsc validates: the timestamp columns (only those) become Dates. */
export function revive(value: Cdr): Cdr {
  const out: Cdr = { ...value };
  for (const f of TIME_COLUMNS) out[f] = toDate(out[f]);
  if (Array.isArray(out['legs'])) {
    out['legs'] = (out['legs'] as Cdr[]).map((l) => ({ ...l, started_at: toDate(l['started_at']), ringing_at: toDate(l['ringing_at']), answered_at: toDate(l['answered_at']), ended_at: toDate(l['ended_at']) }));
  }
  if (Array.isArray(out['ivr_keys'])) out['ivr_keys'] = (out['ivr_keys'] as Cdr[]).map((k) => ({ ...k, at: toDate(k['at']) }));
  return out;
}
