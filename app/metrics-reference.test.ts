import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { REPO_ROOT } from '../core/repo-root.ts';
import { fullRegistry, readMetricsDoc, renderMetricsReference } from './metrics-reference.ts';
import { AppMetrics } from './metrics.ts';
import { KAFKA_SEND_OUTCOMES } from '../connectors/receiver/metrics.ts';
import { OUTCOMES } from '../connectors/receiver/types.ts';

describe('metrics reference', () => {
  it('docs/metrics.md lists exactly the metrics the code registers', async () => {
    // On failure: node bin/run-ts.mjs app/metrics-reference.ts --write
    expect(readMetricsDoc()).toBe(await renderMetricsReference());
  });

  it('has every metric the README and docs name, with the labels they give it (a renamed metric left their queries empty)', async () => {
    const registry = fullRegistry();
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    const labelsOf = (name: string) => (registry.getSingleMetric(name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const docs = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    // Named like a metric, but a ClickHouse table.
    const notMetrics = new Set(['cdrflow_migrations']);
    const wrong: string[] = [];
    for (const doc of docs) {
      for (const [, name, wildcard, labels] of readFileSync(join(REPO_ROOT, doc), 'utf8').matchAll(/\b(cdrflow_[a-z_]*[a-z])(_\*)?(?:\{([^}]*)\})?/g)) {
        if (notMetrics.has(name!)) continue;
        if (wildcard) {
          if (!names.some((n) => n.startsWith(`${name!}_`))) wrong.push(`${doc}: ${name!}_*`);
          continue;
        }
        const metric = names.includes(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, '');
        if (!names.includes(metric)) wrong.push(`${doc}: ${name!}`);
        else for (const label of labels?.split(',').map((l) => l.split('=')[0]!.trim()) ?? []) if (!labelsOf(metric).includes(label)) wrong.push(`${doc}: ${name!}{${label}}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('follows the conventions: standard process names, one label per concept, Unix times as _timestamp_seconds', async () => {
    const metrics = await fullRegistry().getMetricsAsJSON();
    const names = metrics.map((m) => m.name);
    expect(names).toContain('process_cpu_seconds_total');
    expect(names.filter((n) => n.includes('process_process') || n.startsWith('cdrflow_process_'))).toEqual([]);
    const labels = new Set(metrics.flatMap((m) => m.values.flatMap((v) => Object.keys(v.labels))));
    for (const retired of ['connector', 'route']) expect(labels).not.toContain(retired);
    expect(names.filter((n) => /watermark_seconds$/.test(n))).toEqual([]);
  });

  it('exports the stage counters and the latency histogram at 0 before any event', async () => {
    const text = await new AppMetrics().registry.metrics();
    for (const stage of ['normalize', 'sink']) {
      expect(text).toContain(`cdrflow_stage_records_in_total{stage="${stage}"} 0`);
      expect(text).toContain(`cdrflow_stage_dead_lettered_total{stage="${stage}"} 0`);
    }
    expect(text).toContain('cdrflow_received_to_inserted_seconds_count{vendor="huawei-privatenumber"} 0');
  });

  it('exports cdrflow_sql_queries_total at 0 for every status its help (and so docs/metrics.md) names', async () => {
    const m = new AppMetrics();
    const metric = m.registry.getSingleMetric('cdrflow_sql_queries_total')!;
    const documented = [...(await metric.get()).help.matchAll(/\b([1-5]\d\d)\b/g)].map((s) => s[1]!);
    expect(documented.length).toBeGreaterThan(5);
    const exported = (await metric.get()).values.map((v) => String(v.labels['status']));
    expect(exported.sort()).toEqual([...new Set(documented)].sort());
  });

  // The help is all docs/metrics.md says of a label: words that are not its values (acknowledged / failed for ok /
  // error) lead to a matcher that never matches.
  it('names in its help every outcome a metric exports', async () => {
    const wrong: string[] = [];
    for (const m of await fullRegistry().getMetricsAsJSON()) {
      const outcomes = new Set(m.values.map((v) => v.labels['outcome']).filter((o) => o !== undefined).map(String));
      for (const o of outcomes) if (!new RegExp(`\\b${o}\\b`).test(m.help)) wrong.push(`${m.name}: ${o}`);
    }
    expect(wrong).toEqual([]);
  });

  // The receiver's are exported at the first push only, so the rule above does not see them: their values are named.
  it("names the receiver's outcomes in the helps of the metrics labelled with them", async () => {
    const registry = fullRegistry();
    const help = (name: string) => (registry.getSingleMetric(name) as unknown as { help: string }).help;
    const wrong = [
      ...['cdrflow_receiver_requests_total', 'cdrflow_receiver_request_duration_seconds'].flatMap((n) => OUTCOMES.filter((o) => !new RegExp(`\\b${o}\\b`).test(help(n))).map((o) => `${n}: ${o}`)),
      ...KAFKA_SEND_OUTCOMES.filter((o) => !new RegExp(`\\b${o}\\b`).test(help('cdrflow_receiver_kafka_send_seconds'))).map((o) => `kafka send: ${o}`),
    ];
    expect(wrong).toEqual([]);
  });

  it('observes received -> inserted latency per vendor', async () => {
    const m = new AppMetrics();
    m.observeInserted([{ vendor: 'alibaba-lvms', received_at: new Date(10_000) }], 12_500);
    const text = await m.registry.metrics();
    expect(text).toContain('cdrflow_received_to_inserted_seconds_sum{vendor="alibaba-lvms"} 2.5');
    expect(text).toContain('cdrflow_received_to_inserted_seconds_bucket{le="5",vendor="alibaba-lvms"} 1');
    expect(text).toContain('cdrflow_received_to_inserted_seconds_bucket{le="2",vendor="alibaba-lvms"} 0');
  });
});

describe('cachedFor', () => {
  it('reuses one read within the time to live, and reads again after it or after a failure', async () => {
    const { cachedFor } = await import('./job.ts');
    let t = 0;
    let reads = 0;
    let fail = false;
    const read = cachedFor(10_000, () => (++reads, fail ? Promise.reject(new Error('down')) : Promise.resolve(reads)), () => t);
    expect(await read()).toBe(1);
    t = 9_999;
    expect(await read()).toBe(1);
    t = 10_000;
    expect(await read()).toBe(2);
    fail = true;
    t = 20_000;
    await expect(read()).rejects.toThrow('down');
    fail = false;
    expect(await read()).toBe(4);
  });

  it('by default times its time to live on the monotonic clock: a wall clock stepped back an hour does not keep the figures for that hour', async () => {
    const { cachedFor } = await import('./job.ts');
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      let reads = 0;
      const read = cachedFor(10_000, () => Promise.resolve(++reads));
      expect(await read()).toBe(1);
      vi.setSystemTime(Date.now() - 3_600_000);
      vi.advanceTimersByTime(10_000);
      expect(await read()).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('shares a read still under way with every caller, whatever its time to live (concurrent /status requests ran one cdr FINAL each)', async () => {
    const { cachedFor } = await import('./job.ts');
    let t = 0;
    let reads = 0;
    const pending: ((n: number) => void)[] = [];
    const read = cachedFor(0, () => new Promise<number>((resolve) => (++reads, pending.push(resolve))), () => t);
    const first = read();
    t = 5_000;
    const second = read();
    expect(reads).toBe(1);
    pending[0]!(7);
    expect([await first, await second]).toEqual([7, 7]);
    // Settled: a time to live of 0 reads afresh.
    const third = read();
    expect(reads).toBe(2);
    pending[1]!(8);
    expect(await third).toBe(8);
  });

  it('shares a Kafka lag read still under way among /status requests, /metrics and the drain (each /status request ran its own)', async () => {
    const { stageLagReader } = await import('./job.ts');
    const pending: ((byTopic: Record<string, number>) => void)[] = [];
    const seen: [string, number][] = [];
    const lag = stageLagReader(() => new Promise((resolve) => pending.push(resolve)), (topic, n) => void seen.push([topic, n]), 60_000);
    const first = lag();
    const second = lag();
    expect(pending).toHaveLength(1);
    pending[0]!({ a: 2, b: 3 });
    expect([await first, await second]).toEqual([5, 5]);
    expect(seen.slice(0, 2)).toEqual([['a', 2], ['b', 3]]);
    // Settled: the next one reads afresh.
    const third = lag();
    expect(pending).toHaveLength(2);
    pending[1]!({ a: 0 });
    expect(await third).toBe(0);
  });

  it('answers a lag read that takes too long as unknown, without starting another while it is under way', async () => {
    const { stageLagReader } = await import('./job.ts');
    let reads = 0;
    const lag = stageLagReader(() => (++reads, new Promise<Record<string, number>>(() => undefined)), () => undefined, 20);
    expect(await lag()).toBeNull();
    expect(await lag()).toBeNull();
    expect(reads).toBe(1);
  });

  it('counts restarts by code with a bounded label: a new code per restart cannot grow the series without end', async () => {
    const metrics = new AppMetrics();
    metrics.restarted('normalize', 'REBALANCE_IN_PROGRESS');
    metrics.restarted('normalize', 'REBALANCE_IN_PROGRESS');
    for (let i = 0; i < 500; i++) metrics.restarted('sink', `ECONN-${i}`);
    metrics.restarted('sink', 'a "quoted" code');
    const lines = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('cdrflow_component_restarts_total{'));
    expect(lines).toContain('cdrflow_component_restarts_total{component="normalize",code="REBALANCE_IN_PROGRESS"} 2');
    expect(lines).toContain('cdrflow_component_restarts_total{component="sink",code="other"} 462');
    expect(lines).toHaveLength(41);
  });
});

describe('label conventions', () => {
  it('name every label a metric is exported with (a user reads docs/metrics.md for what a label holds)', async () => {
    const doc = readMetricsDoc();
    const conventions = doc.slice(doc.indexOf('Label conventions:'), doc.indexOf('| Metric |'));
    const registry = fullRegistry();
    const labelsOf = (name: string) => (registry.getSingleMetric(name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = new Set((await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('cdrflow_')).flatMap((m) => labelsOf(m.name)));
    expect([...labels].filter((l) => !conventions.includes(`\`${l}\``)).sort()).toEqual([]);
  });
});
