// File import for the push vendors (their backfill: Huawei support can resend CDR files; LVMS records kept by the
// sender). One JSON value per line; each record becomes a raw envelope with mode `import`, published in batches and
// acknowledged by Kafka. Bad lines are reported with their line number and skipped; nothing else stops the run. Lines
// are read by core/byte-lines.ts (bounded, strict UTF-8) and held to the receivers' limits (core/input-limits.ts).
//   huawei-privatenumber: a FeeInfo object, or a whole push body {"eventType":"fee","feeLst":[...]} (each element
//                         kept byte-for-byte); tenant = the record's appKey, else --tenant.
//   alibaba-lvms:         an IvrCallRecordDto object (or that object as a JSON string, as TOP logs it); tenant =
//                         --tenant (the DTO carries no app_key).
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { RawEnvelope } from '../../core/envelope.ts';
import { TOPICS } from '../../core/topology.ts';
import { huaweiNaturalKey } from '../../core/records/huawei-key.ts';
import { checkLvmsDto } from '../../core/records/lvms-key.ts';
import { rawArrayElements } from '../../core/records/json-raw.ts';
import type { EnvelopeSink } from '../receiver/types.ts';
import type { ImportOptions } from './config.ts';
import { RETRY, retry, type BackoffOptions } from '../../core/backoff.ts';
import { MAX_LINE_BYTES, naturalKeyProblem, parseJsonStrict, recordSizeProblem } from '../../core/input-limits.ts';
import { byteLines, overlongReason } from '../../core/byte-lines.ts';

export const IMPORT_CONNECTOR = 'import';

export interface BadLine {
  line: number;
  reason: string;
}

export interface ImportSummary {
  file: string;
  topic: string;
  requestId: string;
  lines: number;
  blankLines: number;
  records: number;
  badLines: number;
  /** The first `maxReportedBadLines` bad lines (all of them are passed to onBadLine). */
  firstBadLines: BadLine[];
}

export interface ImportHooks {
  sink: EnvelopeSink;
  onLine?: (lineNumber: number) => void;
  onBadLine?: (bad: BadLine) => void;
  now?: () => number;
  /** Retry policy for a batch Kafka did not acknowledge (same keys again, so a retry cannot double a record). */
  retry?: Partial<BackoffOptions>;
}

type LineResult = { ok: true; envelopes: RawEnvelope[] } | { ok: false; reason: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function envelopesFromLine(
  line: string,
  lineNumber: number,
  ctx: { vendor: ImportOptions['vendor']; tenant?: string | undefined; file: string; requestId: string; receivedAt: Date },
): LineResult {
  // The door's rules (core/input-limits.ts), as at the receivers: depth, a member given twice, lone surrogates.
  const strict = parseJsonStrict(line);
  if (!strict.ok) return { ok: false, reason: strict.problem.startsWith('malformed JSON') ? `not valid JSON (${strict.problem.slice('malformed JSON: '.length)})` : strict.problem };
  const parsed = strict.value;
  const base = {
    vendor: ctx.vendor,
    received_at: ctx.receivedAt,
    connector: IMPORT_CONNECTOR,
    mode: 'import' as const,
    request_id: ctx.requestId,
    payload_format: 'json',
  };
  const attributes = (extra: Record<string, string> = {}) => ({ file: ctx.file, line: String(lineNumber), ...extra });

  if (ctx.vendor === 'huawei-privatenumber') {
    let items: { record: Record<string, unknown>; payload: string; extra: Record<string, string> }[];
    if (isObject(parsed) && parsed['eventType'] === 'fee' && Array.isArray(parsed['feeLst'])) {
      const feeLst = parsed['feeLst'] as unknown[];
      if (feeLst.length === 0 || !feeLst.every(isObject)) return { ok: false, reason: 'feeLst must hold one or more objects' };
      const raws = rawArrayElements(line, 'feeLst');
      const exact = raws !== undefined && raws.length === feeLst.length;
      items = feeLst.map((record, i) => ({
        record: record as Record<string, unknown>,
        payload: exact ? raws[i]! : JSON.stringify(record),
        extra: { batch_size: String(feeLst.length), batch_index: String(i) },
      }));
    } else if (isObject(parsed)) {
      items = [{ record: parsed, payload: line, extra: {} }];
    } else {
      return { ok: false, reason: 'expected a FeeInfo object or a {"eventType":"fee","feeLst":[...]} push body' };
    }
    const envelopes: RawEnvelope[] = [];
    for (const [index, { record, payload, extra }] of items.entries()) {
      const appKey = typeof record['appKey'] === 'string' && record['appKey'] !== '' ? record['appKey'] : ctx.tenant;
      if (appKey === undefined) return { ok: false, reason: 'the record has no appKey and no --tenant was given' };
      const { key, source } = huaweiNaturalKey(record, payload);
      // As at the receiver: the line is refused whole, like a push with one such record.
      const problem = naturalKeyProblem(appKey, 'appKey') ?? naturalKeyProblem(key, source) ?? recordSizeProblem(payload);
      if (problem !== null) return { ok: false, reason: items.length > 1 ? `feeLst[${index}]: ${problem}` : problem };
      envelopes.push({ ...base, tenant_id: appKey, natural_key: key, payload, attributes: attributes({ ...extra, key_source: source }) });
    }
    return { ok: true, envelopes };
  }

  // alibaba-lvms
  const dto = typeof parsed === 'string' ? parsed : line;
  const check = checkLvmsDto(dto);
  if (!check.ok) return { ok: false, reason: check.problem };
  if (ctx.tenant === undefined) return { ok: false, reason: 'LVMS records carry no app_key: pass --tenant' };
  return {
    ok: true,
    envelopes: [{ ...base, tenant_id: ctx.tenant, natural_key: check.key.key, payload: dto, attributes: attributes({ key_source: check.key.source }) }],
  };
}

export async function importFile(options: ImportOptions, hooks: ImportHooks): Promise<ImportSummary> {
  const topic = options.topic ?? TOPICS.raw(options.vendor);
  const requestId = randomUUID();
  const now = hooks.now ?? Date.now;
  const file = basename(options.file);
  const summary: ImportSummary = { file, topic, requestId, lines: 0, blankLines: 0, records: 0, badLines: 0, firstBadLines: [] };
  const pending: RawEnvelope[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending.splice(0);
    await retry(() => hooks.sink.publish(batch, topic), hooks.retry ?? RETRY.importPublish);
    summary.records += batch.length;
  };

  // Strict UTF-8: a lenient decoder would turn invalid bytes into U+FFFD and change a call id without a word. A BOM
  // is dropped from the first line only (ignoreBOM: false strips it); anywhere else it is text.
  const firstLine = new TextDecoder('utf-8', { fatal: true });
  const otherLines = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for await (const bytes of byteLines(createReadStream(options.file), MAX_LINE_BYTES)) {
    const lineNumber = ++summary.lines;
    let line: string | undefined;
    let result: LineResult | undefined;
    if (!Buffer.isBuffer(bytes)) {
      result = { ok: false, reason: overlongReason(bytes) };
    } else {
      try {
        line = (lineNumber === 1 ? firstLine : otherLines).decode(bytes);
      } catch {
        result = { ok: false, reason: 'invalid UTF-8 in the line' };
      }
    }
    if (line !== undefined && line.trim() === '') {
      summary.blankLines++;
    } else {
      result ??= envelopesFromLine(line!, lineNumber, { vendor: options.vendor, tenant: options.tenant, file, requestId, receivedAt: new Date(now()) });
      if (result.ok) {
        pending.push(...result.envelopes);
        if (pending.length >= options.batchSize) await flush();
      } else {
        summary.badLines++;
        const bad = { line: lineNumber, reason: result.reason };
        if (summary.firstBadLines.length < options.maxReportedBadLines) summary.firstBadLines.push(bad);
        hooks.onBadLine?.(bad);
      }
    }
    hooks.onLine?.(lineNumber);
  }
  await flush();
  return summary;
}

/** Lines in a file (for the progress total), counted by newline bytes without decoding. */
export async function countLines(path: string): Promise<number> {
  let count = 0;
  let last = 10;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) count++;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return last === 10 ? count : count + 1;
}
