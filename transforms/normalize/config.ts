// Options of the normalize mapping (billing rule per vendor/tenant, LVMS time zone per tenant, PII key), validated
// with zod so a typo in a rule id or a zone is a startup error with its path, not a silently wrong bill.
import { z } from 'zod';
import { VENDORS } from '../../core/topology.ts';
import { BILLING_RULE_IDS } from './billing.ts';
import type { NormalizeOptions } from './context.ts';
import { isValidTimeZone } from './time.ts';

const ruleId = z.enum(BILLING_RULE_IDS);
const timeZone = z.string().refine(isValidTimeZone, { message: 'not an IANA time zone' });

export const normalizeOptionsSchema = z.strictObject({
  billing: z
    .strictObject({
      defaultRule: ruleId.default('60/60'),
      perVendor: z.partialRecord(z.enum(VENDORS), ruleId).default({}),
      /** Keyed `<vendor>:<tenant>`: a tenant's contract beats its vendor's default. */
      perTenant: z
        .record(
          z.string().refine((k) => VENDORS.some((v) => k.startsWith(`${v}:`) && k.length > v.length + 1), {
            message: 'key must be <vendor>:<tenant>',
          }),
          ruleId,
        )
        .default({}),
    })
    .prefault({}),
  lvmsTimeZone: z
    .strictObject({
      default: timeZone.default('Asia/Shanghai'),
      perTenant: z.record(z.string(), timeZone).default({}),
    })
    .prefault({}),
  piiKey: z.string().min(16, 'piiKey must be at least 16 characters').nullable().default(null),
  defaultRegion: z.literal('CN').default('CN'),
});

export type NormalizeOptionsInput = z.input<typeof normalizeOptionsSchema>;

/** Throws a ZodError listing every problem with its path; call at startup, never per record. */
export function parseNormalizeOptions(input: unknown): NormalizeOptions {
  return normalizeOptionsSchema.parse(input ?? {}) as NormalizeOptions;
}
