// normalize: raw vendor CDR envelopes (cdr.raw.<vendor>) → unified CDR (schemas/cdr-normalized.avsc), as pure
// functions: no I/O, clock passed in, bad records returned as `bad_record` values for the dead-letter topic.
export { MAPPING_VERSION, TENANT_FIELDS, normalize, normalizeBare, tenantOfRecord } from './normalize.ts';
export type { VendorMapper } from './normalize.ts';
export { normalizeLine, looksLikeEnvelope } from './lines.ts';
export type { LineOptions } from './lines.ts';
export type { NormalizeFailure, NormalizeResult } from './result.ts';
export { defaultNormalizeContext, defaultNormalizeOptions } from './context.ts';
export type { Lineage, NormalizeContext, NormalizeOptions } from './context.ts';
export { normalizeOptionsSchema, parseNormalizeOptions } from './config.ts';
export type { NormalizeOptionsInput } from './config.ts';
export { BILLING_RULES, BILLING_RULE_IDS, bill, billableSeconds, selectRule } from './billing.ts';
export type { BillingRule, BillingRuleId } from './billing.ts';
export { END_STATUSES } from './cdr.ts';
export { normalizedCdrId, normalizedNaturalKey } from './identity.ts';
export type { NormalizedCdr, Party, Leg, IvrKey, EndStatus, Direction, Channel, PartyType, HangupSide } from './cdr.ts';
