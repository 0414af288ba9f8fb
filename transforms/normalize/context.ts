// Everything a mapper may depend on besides the record: the clock, where the record came from, and the options.
// Passing these in keeps the mappers pure and the fixtures reproducible.
import type { BillingChoice } from './billing.ts';

export interface NormalizeOptions {
  billing: BillingChoice;
  /** LVMS sends naive local times; Asia/Shanghai unless a tenant is known to send another zone. */
  lvmsTimeZone: { default: string; perTenant: Record<string, string> };
  /** When set, phone numbers are replaced by HMAC-SHA256(piiKey, e164) and flagged `hashed`. */
  piiKey: string | null;
  /** Region for numbers written without a country code. */
  defaultRegion: 'CN';
}

export interface Lineage {
  topic: string;
  partition: number;
  offset: number;
}

export interface NormalizeContext {
  now: () => Date;
  lineage: Lineage | null;
  options: NormalizeOptions;
}

export function defaultNormalizeOptions(): NormalizeOptions {
  return {
    billing: { defaultRule: '60/60', perVendor: {}, perTenant: {} },
    lvmsTimeZone: { default: 'Asia/Shanghai', perTenant: {} },
    piiKey: null,
    defaultRegion: 'CN',
  };
}

export function defaultNormalizeContext(overrides: Partial<NormalizeContext> = {}): NormalizeContext {
  return { now: () => new Date(), lineage: null, options: defaultNormalizeOptions(), ...overrides };
}

export function lvmsTimeZoneFor(options: NormalizeOptions, tenantId: string): string {
  const { perTenant } = options.lvmsTimeZone;
  return (Object.hasOwn(perTenant, tenantId) ? perTenant[tenantId] : undefined) ?? options.lvmsTimeZone.default;
}
