import { describe, expect, it } from 'vitest';
import { BILLING_RULES, bill, billableSeconds, selectRule } from './billing.ts';
import { defaultNormalizeOptions } from './context.ts';

describe('billableSeconds', () => {
  // [talk seconds, 60/60, 60/1, 30/6, 1/1]
  const table: [number, number, number, number, number][] = [
    [0, 0, 0, 0, 0],
    [-3, 0, 0, 0, 0],
    [1, 60, 60, 30, 1],
    [29, 60, 60, 30, 29],
    [31, 60, 60, 36, 31],
    [59, 60, 60, 60, 59],
    [60, 60, 60, 60, 60],
    [61, 120, 61, 66, 61],
    [119, 120, 119, 120, 119],
    [121, 180, 121, 126, 121],
    [3600, 3600, 3600, 3600, 3600],
  ];
  it.each(table)('talk %ds → 60/60 %d, 60/1 %d, 30/6 %d, 1/1 %d', (talk, r6060, r601, r306, r11) => {
    expect(billableSeconds(talk, BILLING_RULES['60/60'])).toBe(r6060);
    expect(billableSeconds(talk, BILLING_RULES['60/1'])).toBe(r601);
    expect(billableSeconds(talk, BILLING_RULES['30/6'])).toBe(r306);
    expect(billableSeconds(talk, BILLING_RULES['1/1'])).toBe(r11);
  });
  it('gives minutes as ceil(billable seconds / 60) with the rule id', () => {
    expect(bill(61, BILLING_RULES['60/1'])).toEqual({ billable_seconds: 61, billable_minutes: 2, billing_rule: '60/1' });
    expect(bill(0, BILLING_RULES['60/60'])).toEqual({ billable_seconds: 0, billable_minutes: 0, billing_rule: '60/60' });
  });
});

describe('selectRule', () => {
  it('prefers the tenant rule, then the vendor rule, then the default', () => {
    const options = defaultNormalizeOptions();
    options.billing.perVendor['tencent-ccc'] = '60/1';
    options.billing.perTenant['tencent-ccc:1400000001'] = '1/1';
    expect(selectRule(options, 'tencent-ccc', '1400000001').id).toBe('1/1');
    expect(selectRule(options, 'tencent-ccc', '1400000002').id).toBe('60/1');
    expect(selectRule(options, 'tencent-trtc', '1400000001').id).toBe('60/60');
  });
});
