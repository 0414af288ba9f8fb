import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry, Counter } from 'prom-client';
import { assertReadOnly, startOpsServer } from './ops-server.ts';

describe('assertReadOnly', () => {
  it.each(['SELECT 1', ' with x as (select 1) select * from x;', 'SHOW TABLES', 'DESCRIBE cdr', '(SELECT 1)'])('accepts %s', (q) => {
    expect(() => assertReadOnly(q)).not.toThrow();
  });
  it.each(['INSERT INTO cdr VALUES (1)', 'DROP TABLE cdr', 'SELECT 1; DROP TABLE cdr', 'ALTER TABLE cdr DELETE WHERE 1', '', 'OPTIMIZE TABLE cdr'])(
    'refuses %s',
    (q) => {
      expect(() => assertReadOnly(q)).toThrow();
    },
  );
});

describe('ops server', () => {
  const metrics = new Registry();
  new Counter({ name: 'cdrflow_test_total', help: 'test', registers: [metrics] }).inc(3);
  let base = '';
  let close: () => Promise<void>;
  const queries: string[] = [];

  beforeAll(async () => {
    const ops = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: false, components: { sink: 'starting' } }),
      status: async () => ({ cdrs: 7 }),
      query: async (sql, format) => {
        queries.push(sql);
        return `${format}:${sql}\n`;
      },
    });
    base = `http://127.0.0.1:${ops.port}`;
    close = ops.close;
  });
  afterAll(() => close());

  it('serves health, readiness, metrics and status', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, components: { sink: 'starting' } });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('cdrflow_test_total 3');
    expect(await (await fetch(`${base}/status`)).json()).toEqual({ cdrs: 7 });
  });

  it('runs read-only SQL and refuses writes without running them', async () => {
    const ok = await fetch(`${base}/sql?format=CSV`, { method: 'POST', body: 'SELECT 1' });
    expect(await ok.text()).toBe('CSV:SELECT 1\n');
    const refused = await fetch(`${base}/sql`, { method: 'POST', body: 'DROP TABLE cdr' });
    expect(refused.status).toBe(400);
    expect(queries).toEqual(['SELECT 1']);
  });
});
