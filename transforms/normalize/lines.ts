// One JSON line of `cdrflow normalize` input → result. A line is either a raw envelope (as dumped from
// cdr.raw.<vendor>, payload as a string) or a bare vendor record; envelopes are recognised by their shape so both can
// be mixed in one file. Pure: the CLI owns stdin/stdout.
import { z } from 'zod';
import type { RawEnvelope } from '../../core/envelope.ts';
import { parseJsonStrict, quote } from '../../core/input-limits.ts';
import type { Vendor } from '../../core/topology.ts';
import type { NormalizeContext } from './context.ts';
import { normalize, normalizeBare } from './normalize.ts';
import { badRecord } from './result.ts';
import type { NormalizeResult } from './result.ts';
import { isRecord } from './skeleton.ts';

const envelopeSchema = z.object({
  vendor: z.string(),
  tenant_id: z.string().min(1),
  natural_key: z.string().default(''),
  // Avro JSON dumps carry millis; hand-written lines an ISO string.
  received_at: z.union([z.number().int().nonnegative(), z.iso.datetime({ offset: true })]).optional(),
  connector: z.string().default('cli'),
  mode: z.enum(['live', 'backfill', 'import']).default('import'),
  request_id: z.string().nullable().default(null),
  payload: z.string(),
  payload_format: z.string().default('json'),
  attributes: z.record(z.string(), z.string()).default({}),
});

/** An envelope names its vendor and tenant and carries the vendor record as a string payload. */
export function looksLikeEnvelope(v: unknown): v is Record<string, unknown> {
  return isRecord(v) && typeof v.payload === 'string' && 'vendor' in v && 'tenant_id' in v;
}

export interface LineOptions {
  vendor: Vendor;
  /** --tenant: the tenant of bare records that do not name theirs; must agree with any tenant a line names. */
  tenant: string | null;
}

export function normalizeLine(line: string, options: LineOptions, ctx: NormalizeContext): NormalizeResult {
  const strict = parseJsonStrict(line);
  // Not (acceptable) JSON: the bare-record path reports the problem in its usual words.
  if (!strict.ok) return normalizeBare(options.vendor, options.tenant, line, ctx);
  const parsed = strict.value;
  if (!looksLikeEnvelope(parsed)) return normalizeBare(options.vendor, options.tenant, line, ctx);
  const checked = envelopeSchema.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    return badRecord(`invalid envelope: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const e = checked.data;
  if (e.vendor !== options.vendor) return badRecord(`envelope is for vendor ${e.vendor}, not ${options.vendor}`);
  if (options.tenant !== null && e.tenant_id !== options.tenant) {
    return badRecord(`envelope belongs to tenant ${e.tenant_id}, not to the requested tenant ${options.tenant}`);
  }
  const receivedAt = e.received_at === undefined ? ctx.now() : new Date(e.received_at);
  // Millis beyond ±8.64e15 (or an ISO year past 275760) make an Invalid Date, which nothing downstream can print.
  if (!Number.isFinite(receivedAt.getTime())) return badRecord(`invalid envelope: received_at ${quote(e.received_at)} is beyond the largest date`);
  const envelope: RawEnvelope = { ...e, vendor: options.vendor, received_at: receivedAt };
  return normalize(envelope, ctx);
}
