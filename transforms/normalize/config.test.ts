import { describe, expect, it } from 'vitest';
import { defaultNormalizeOptions } from './context.ts';
import { parseNormalizeOptions } from './config.ts';

describe('normalize options', () => {
  it('defaults to 60/60, Asia/Shanghai for LVMS, no PII hashing', () => {
    expect(parseNormalizeOptions({})).toEqual(defaultNormalizeOptions());
    expect(parseNormalizeOptions(undefined)).toEqual(defaultNormalizeOptions());
  });
  it('accepts per-vendor and per-tenant rules and zones', () => {
    const o = parseNormalizeOptions({
      billing: { perVendor: { 'tencent-ccc': '60/1' }, perTenant: { 'alibaba-lvms:app1': '30/6' } },
      lvmsTimeZone: { perTenant: { app1: 'Asia/Tokyo' } },
    });
    expect(o.billing.perVendor['tencent-ccc']).toBe('60/1');
    expect(o.billing.perTenant['alibaba-lvms:app1']).toBe('30/6');
    expect(o.lvmsTimeZone).toEqual({ default: 'Asia/Shanghai', perTenant: { app1: 'Asia/Tokyo' } });
  });
  it('reports every problem with its path', () => {
    const attempt = () =>
      parseNormalizeOptions({
        billing: { defaultRule: '6/6', perTenant: { app1: '60/60' } },
        lvmsTimeZone: { default: 'Beijing' },
        piiKey: 'short',
        colour: 'blue',
      });
    expect(attempt).toThrow(/defaultRule/);
    try {
      attempt();
    } catch (err) {
      const paths = (err as { issues: { path: unknown[] }[] }).issues.map((i) => i.path.join('.'));
      expect(paths).toEqual(expect.arrayContaining(['billing.defaultRule', 'billing.perTenant.app1', 'lvmsTimeZone.default', 'piiKey', '']));
    }
  });
});
