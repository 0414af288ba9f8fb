import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatZodIssues, zodIssues } from './zod-issues.ts';

describe('zod issues', () => {
  const schema = z.strictObject({ port: z.number().int(), apps: z.array(z.strictObject({ key: z.string().min(1) })) });
  const error = schema.safeParse({ port: 1.5, apps: [{ key: '' }], extra: true }).error!;

  it('lists every problem with its dotted path', () => {
    const problems = zodIssues(error, schema);
    expect(problems.map((p) => p.path).sort()).toEqual(['(root)', 'apps.0.key', 'port']);
    expect(problems.find((p) => p.path === '(root)')!.message).toMatch(/extra/);
  });

  it('formats one problem per line after the bullet', () => {
    const lines = formatZodIssues(error, '* ').split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\* (\(root\)|apps\.0\.key|port): ./);
  });
});

const NOT_SHOWN = 'an unknown key (not shown: a key here may be a secret pasted in the wrong place)';

describe('range problems of one value', () => {
  const schema = z.strictObject({ workers: z.int().min(1).max(16), both: z.array(z.int().max(3)).max(2) });

  it('reports the tightest limit only: the setting’s own, not the int’s safe range as well', () => {
    expect(zodIssues(schema.safeParse({ workers: 1e20, both: [] }).error!)).toEqual([{ path: 'workers', message: 'Too big: expected number to be <=16' }]);
    expect(zodIssues(schema.safeParse({ workers: -1e20, both: [] }).error!)).toEqual([{ path: 'workers', message: 'Too small: expected number to be >=1' }]);
  });

  it('keeps range problems of different values, each at its own limit', () => {
    expect(zodIssues(schema.safeParse({ workers: 1e20, both: [1e20, 9] }).error!)).toEqual([
      { path: 'workers', message: 'Too big: expected number to be <=16' },
      { path: 'both.0', message: 'Too big: expected number to be <=3' },
      { path: 'both.1', message: 'Too big: expected number to be <=3' },
    ]);
  });
  it('answers an unknown key with the nearest key of its object, through optional, default, arrays and records; not through a pipe', () => {
    const schema = z.strictObject({
      sink: z.strictObject({ flushRows: z.int().optional() }).default({}),
      apps: z.array(z.strictObject({ appKey: z.string() })).optional(),
      byTenant: z.record(z.string(), z.strictObject({ settleSec: z.int() })).optional(),
      piped: z.object({ flushRow: z.int().optional(), flushRows: z.int().optional() }).pipe(z.strictObject({ flushRows: z.int().optional() })).optional(),
    });
    const messages = (doc: unknown) => {
      const r = schema.safeParse(doc);
      return r.success ? [] : zodIssues(r.error, schema).map((p) => `${p.path}: ${p.message}`);
    };
    expect(messages({ sink: { flushRow: 1 }, apps: [{ appKey: 'a', appkey: 'b' }], byTenant: { t1: { settleSec: 1, settlesec: 2 } } })).toEqual([
      'sink: Unrecognized key: "flushRow" (did you mean "flushRows"?)',
      'apps.0: Unrecognized key: "appkey" (did you mean "appKey"?)',
      'byTenant.t1: Unrecognized key: "settlesec" (did you mean "settleSec"?)',
    ]);
    // A pipe: the side that refused the key is not known, so no guess (the input's keys would suggest the key itself),
    // and what the object holds is not known either: the key is not shown.
    expect(messages({ piped: { flushRow: 1 } })).toEqual([`piped: ${NOT_SHOWN}`]);
    // Without the schema, likewise.
    const r = schema.safeParse({ sink: { flushRow: 1 } });
    expect(r.success ? [] : zodIssues(r.error).map((p) => p.message)).toEqual([NOT_SHOWN]);
  });

  it('shows no unknown key of an object that holds a secret unless it is a typo of a known key: a secret pasted there would be printed', () => {
    const schema = z.strictObject({
      apps: z.array(z.strictObject({ appKey: z.string(), appSecret: z.string() })),
      sasl: z.strictObject({ username: z.string(), password: z.string() }).optional(),
    });
    const messages = (doc: unknown) => {
      const r = schema.safeParse(doc);
      return r.success ? [] : zodIssues(r.error, schema).map((p) => `${p.path}: ${p.message}`);
    };
    expect(messages({ apps: [{ appKey: 'k', appSecret: 's', 'hunter2-0f4e': 1 }] })).toEqual([`apps.0: ${NOT_SHOWN}`]);
    expect(messages({ apps: [{ appKey: 'k', appSecret: 's', appSecrt: 's', 'hunter2-0f4e': 1, 'hunter3-9b1d': 2 }] })).toEqual([
      'apps.0: Unrecognized key: "appSecrt" (did you mean "appSecret"?); 2 unknown keys (not shown: a key here may be a secret pasted in the wrong place)',
    ]);
    expect(messages({ apps: [], sasl: { username: 'u', password: 'p', usernme: 'v' } })).toEqual(['sasl: Unrecognized key: "usernme" (did you mean "username"?)']);
  });

  it('shows an unknown key one level above such an object only when it is a typo or shaped as a setting\'s name: a secret pasted a line too far out was printed', () => {
    const schema = z.strictObject({
      receiver: z.strictObject({ port: z.int().optional(), huawei: z.strictObject({ appKey: z.string(), appSecret: z.string() }).optional() }).optional(),
      sink: z.strictObject({ flushRows: z.int().optional() }).optional(),
    });
    const messages = (doc: unknown) => {
      const r = schema.safeParse(doc);
      return r.success ? [] : zodIssues(r.error, schema).map((p) => `${p.path}: ${p.message}`);
    };
    // Secrets of the shapes vendors hand out, at the root and in `receiver`: counted, never quoted.
    for (const secret of ['hunter2-0f4e', 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE', 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE', 'c2VjcmV0LXRva2Vu', 'abcdefghijklmnopqrstuvwxyzabcdefgh']) {
      expect(messages({ [secret]: 1 }), secret).toEqual([`(root): ${NOT_SHOWN}`]);
      expect(messages({ receiver: { [secret]: 1 } }), secret).toEqual([`receiver: ${NOT_SHOWN}`]);
    }
    // A typo keeps its guess, and a key that reads as a setting's name is still named, beside a counted one.
    expect(messages({ recever: {}, unknownSection: 1, 'tencent-ccc': {}, zzz: 1, 'hunter2-0f4e': 1 })).toEqual([
      `(root): Unrecognized keys: "recever", "unknownSection", "tencent-ccc", "zzz" ("recever": did you mean "receiver"?); ${NOT_SHOWN}`,
    ]);
    expect(messages({ receiver: { prot: 1 } })).toEqual(['receiver: Unrecognized key: "prot" (did you mean "port"?)']);
  });
});
