// Billable time as data. A rule bills nothing for an unanswered call, at least `minimumSeconds` once answered, the
// first `firstIncrement` seconds as one block, then blocks of `nextIncrement` (CGRateS RatingIncrement style).
// 60/60 is Huawei's documented rule (every started minute counts) and the default for every vendor.
import type { Vendor } from '../../core/topology.ts';

export interface BillingRule {
  id: string;
  minimumSeconds: number;
  firstIncrement: number;
  nextIncrement: number;
}

export const BILLING_RULE_IDS = ['60/60', '60/1', '30/6', '1/1'] as const;
export type BillingRuleId = (typeof BILLING_RULE_IDS)[number];

export const BILLING_RULES: Readonly<Record<BillingRuleId, BillingRule>> = {
  '60/60': { id: '60/60', minimumSeconds: 60, firstIncrement: 60, nextIncrement: 60 },
  '60/1': { id: '60/1', minimumSeconds: 60, firstIncrement: 60, nextIncrement: 1 },
  '30/6': { id: '30/6', minimumSeconds: 30, firstIncrement: 30, nextIncrement: 6 },
  '1/1': { id: '1/1', minimumSeconds: 1, firstIncrement: 1, nextIncrement: 1 },
};

export function isBillingRuleId(id: string): id is BillingRuleId {
  return (BILLING_RULE_IDS as readonly string[]).includes(id);
}

/** Seconds billed for `talkSeconds` of answered time; 0 when nothing was answered. */
export function billableSeconds(talkSeconds: number, rule: BillingRule): number {
  if (!(talkSeconds > 0)) return 0;
  const talk = Math.ceil(talkSeconds);
  const billed =
    talk <= rule.firstIncrement
      ? rule.firstIncrement
      : rule.firstIncrement + Math.ceil((talk - rule.firstIncrement) / rule.nextIncrement) * rule.nextIncrement;
  return Math.max(billed, rule.minimumSeconds);
}

/** Which rule applies: the configured choice (the `billing` section of the mapping options). */
export interface BillingChoice {
  defaultRule: BillingRuleId;
  perVendor: Partial<Record<Vendor, BillingRuleId>>;
  /** Keyed `<vendor>:<tenant>`. */
  perTenant: Record<string, BillingRuleId>;
}

/** A tenant's contract beats its vendor's default, which beats the global default. */
export function selectRule(options: { billing: BillingChoice }, vendor: Vendor, tenantId: string): BillingRule {
  // Own properties only: a tenant id is outside data, and `constructor` must not find Object's.
  const tenantKey = `${vendor}:${tenantId}`;
  const { perTenant, perVendor } = options.billing;
  const id = (Object.hasOwn(perTenant, tenantKey) ? perTenant[tenantKey] : undefined) ?? (Object.hasOwn(perVendor, vendor) ? perVendor[vendor] : undefined) ?? options.billing.defaultRule;
  return BILLING_RULES[id];
}

export interface Billing {
  billable_seconds: number;
  billable_minutes: number;
  billing_rule: string;
}

/** Billable minutes: every started minute of the billable seconds (the cdr table checks the same). */
export const billableMinutes = (seconds: number): number => Math.ceil(seconds / 60);

/** The three billing columns of a normalized CDR. */
export function bill(talkSeconds: number, rule: BillingRule): Billing {
  const seconds = billableSeconds(talkSeconds, rule);
  return { billable_seconds: seconds, billable_minutes: billableMinutes(seconds), billing_rule: rule.id };
}
