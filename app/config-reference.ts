// The "Configuration reference" of README.md, generated from the zod schemas (z.toJSONSchema), so it cannot drift:
// app/config-reference.test.ts fails when the README section differs from `renderConfigReference()`.
// Regenerate: `node bin/run-ts.mjs app/config-reference.ts --write`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { appConfigSchema, ENV_OVERRIDES } from './config.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import { PORT_OFFSETS } from '../core/local-endpoints.ts';

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  const?: unknown;
  anyOf?: JsonSchema[];
};

/** What a field means, for fields whose schema alone does not say it. Every path must exist (checked by the test). */
export const DESCRIPTIONS: Record<string, string> = {
  namespace: 'prefix for every topic, consumer group and transactional id (`<ns>.cdr.raw.…`); explicit component names win',
  'kafka.brokers': 'absent: the local stack (started if not running)',
  'kafka.sasl': 'SASL for a real cluster',
  'kafka.sasl.username': 'no control characters',
  'kafka.sasl.password': 'not empty',
  'schemaRegistry.url': 'Confluent-compatible API root; a user and password in it are sent as HTTP Basic and shown as `***` in messages; absent: the local Apicurio `…/apis/ccompat/v7`',
  'clickhouse.url': 'a ClickHouse server, http or https, without user or password in it (`username`, `password`: the URL is shown in status); absent: the embedded engine in `dataDir`',
  'clickhouse.username': 'no control characters, no `:` (HTTP Basic auth splits user and password at the first colon)',
  'clickhouse.dataDir': 'embedded engine data directory (one process at a time), relative to the repository, no NUL in it; `insert-staging/` in it holds the rows of the insert in flight (removed when it ends)',
  'localInfra.portBase': `Kafka base+${PORT_OFFSETS.kafka}, registry base+${PORT_OFFSETS.registry}, ops port base+${PORT_OFFSETS.ops}`,
  'localInfra.autoStart': 'start the local Kafka + registry if needed; only what was started is stopped on exit',
  'ops.port': `/healthz /readyz /metrics /status /sql on 127.0.0.1; default port base + ${PORT_OFFSETS.ops}`,
  'ops.statusIntervalSec': 'seconds between status lines on stderr (0 = none)',
  'ops.sql': 'user SQL runs in a read-only engine session with these limits; more concurrent queries are refused (429)',
  'ops.sql.maxExecutionTimeSec': 'the engine cancels a user query after this long; a server\'s answer not ended by then is cut by cdrflow',
  'ops.sql.maxResultBytes': 'the engine refuses a larger result (counted in its blocks); a server\'s answer is also cut by cdrflow past this many bytes',
  'shutdown.hardDeadlineSec': 'after a stop request the process exits (code 1) after this long at most, whatever still runs',
  'shutdown.drainTimeoutSec': 'on SIGINT/SIGTERM, after intake stopped: wait at most this long for normalize, the sink and the dead-letter loader to reach lag 0',
  'workerThreads.nice': 'priority of the normalize workers and the sink\'s render thread (Linux, per thread): the main thread (receiver acks, ops port, heartbeats) and the local broker win a busy core; 0 = same priority',
  'connectors.tencent-ccc': 'runs when present',
  'connectors.tencent-ccc.endpoint': 'host[:port] that is signed; intl: ccc.intl.tencentcloudapi.com',
  'connectors.tencent-ccc.connectAddress': 'connect here instead of resolving the endpoint (simulator, private link)',
  'connectors.tencent-ccc.sdkAppIds': 'tenants: one SdkAppId each',
  'connectors.tencent-ccc.lookbackSec': 'how long after a call ends its record may still appear (re-read)',
  'connectors.tencent-ccc.maxCallSec': 'longest call expected (windows filter on call start)',
  'connectors.tencent-ccc.settleSec': 'do not read the last seconds: the vendor is still producing them',
  'connectors.tencent-ccc.maxWindowSec': 'most new time per window; with lookbackSec + maxCallSec under 90 days (DescribeTelCdr\'s End − Start limit, assumed for the protected API)',
  'connectors.tencent-ccc.initialLookbackSec': "a tenant without a checkpoint starts this far back (from the poller's first cycle, or from the cycle that finds that start more than 5 minutes ahead of the clock: taken while the clock ran ahead, no window saved since; within `settleSec`, it is read once that start has settled); so does one whose checkpoint is more than 5 minutes ahead of the clock (saved while the clock ran ahead), with a warning `poller.checkpoint_ahead`: what that checkpoint passed over before the start is for a backfill",
  'connectors.tencent-ccc.requestsPerSecond': 'for the whole connector (all tenants)',
  'connectors.tencent-ccc.maxWindowRecords': "a window whose total is over this many records is read in halves by time, each on its own (a read holds about 170 bytes a record: 100,000 is about 17 MiB), down to 60-second spans; a span that short over it is read whole with a warning `poller.window_dense` naming tenant and span, up to 20 times this many records (past that, finished as incomplete: `poller.window_incomplete`, reason too many records)",
  'connectors.tencent-trtc.maxWindowRecords': "a window whose total is over this many records is read in halves by time, each on its own (a read holds about 170 bytes a record: 100,000 is about 17 MiB), down to 60-second spans; a span that short over it is read whole with a warning `poller.window_dense` naming tenant and span, up to 20 times this many records (past that, finished as incomplete: `poller.window_incomplete`, reason too many records)",
  'connectors.tencent-trtc': 'runs when present',
  'connectors.tencent-trtc.apps': 'tenants: SDKAppID + SDKSecretKey each',
  'connectors.tencent-trtc.identifier': 'the Chat App administrator account',
  'connectors.tencent-trtc.region': 'picks the API hosts — v4: china console.tim.qq.com, singapore adminapisgp, seoul adminapikr, frankfurt adminapiger, silicon-valley adminapiusa, jakarta adminapiidn (.im.qcloud.com); v1: callkit.trtc (china) or callkit-intl.trtc (.tencent-cloud.com)',
  'connectors.tencent-trtc.baseUrl': 'one API root for both APIs instead of the region hosts (proxy, simulator)',
  'connectors.tencent-trtc.apps[].api': 'v4 for calls made with TUICallKit calls(); v1 (beta, deprecated) for call()/groupCall()',
  'connectors.tencent-trtc.apps[].region': 'this app\'s region, when not the connector\'s',
  receiver: 'the push receiver; runs when present (at least one of huawei, lvms)',
  'receiver.port': '0 = any free port',
  'receiver.bodyBudgetBytes': 'request bodies held in memory at once, all requests together (those pipelined behind a push counted at what Node may buffer of them, and their request line and headers too); a push that does not fit is answered the vendor\'s "retry later" (503) without reading its body; at least bodyLimitBytes',
  'receiver.maxConnections': 'connections open at once, those still sending headers included; one more is closed unread (counted as outcome busy, code dropped) and the vendor pushes again later',
  'receiver.maxPipelinedRequests': 'requests one connection may have waiting for their answers while a push on it waits for its body or Kafka; the next is answered the vendor\'s "retry later" (503, counted as outcome busy) after the answers owed, and the connection closed, as is one whose body does not fit bodyBudgetBytes; the vendors send one push at a time',
  'receiver.unreadAnswerTimeoutMs': 'a connection whose client reads none of the answers waiting for it for this long is closed (counted as outcome timeout, code unread_answers); a client reading at least a socket send buffer (at most 4 MiB) per period is never cut',
  'receiver.ackTimeoutMs': 'longest wait for Kafka before answering "retry later"',
  'receiver.huawei.apps': 'appKey / appSecret (/ binding mode) per Huawei app',
  'receiver.huawei.apps[].appKey': 'the tenant of the records the app pushes; no `:` (the tenant is the middle of every cdr_id)',
  'receiver.huawei.allowWsse': 'accept the legacy X-WSSE header too',
  'receiver.huawei.recordingLinks': 'resolve recorded CDRs\' download links (301 `Location`) into the envelope attribute `recording_download_url` before storing them',
  'receiver.huawei.recordingLinks.baseUrl': 'the app access address (APP接入地址) from the console',
  'receiver.huawei.recordingLinks.timeoutMs': 'deadline for all links of one push: a link not ready is left out, the push is stored and answered anyway',
  'receiver.lvms.apps': 'TOP appKey / appSecret',
  'receiver.lvms.apps[].appKey': 'the tenant of the records the app pushes; no `:` (the tenant is the middle of every cdr_id)',
  'normalize.inputTopics': 'the raw topics normalize reads; for `start` and `reconcile` each configured connector\'s and receiver\'s raw topic must be among them, and each must be a source\'s own or named `….raw.<vendor>` (reconcile counts a topic\'s records under that vendor)',
  'normalize.instanceId': 'stable per process: transactional.id = `<groupId>.<instanceId>`; default: the host name',
  'normalize.systemicFailureThreshold': 'a chunk this large in which every record threw at the same stage stops normalize (systemic); smaller or mixed failures are dead-lettered one by one',
  'normalize.warmUpRecords': 'sample records each member runs through its own transform at start-up, before joining the group, so a fresh job does not lag in its first seconds of live traffic (nothing is sent); 0 = none. 8000 took the first 10 s at 2,000 CDR/s from 1.4–2.8 s to 1.3–2.2 s p99 (README, Performance)',
  'normalize.mapping': 'billing rules, LVMS time zone, PII key (transforms/normalize/config.ts)',
  'sink.database': 'database of the cdr tables and views (also the `sql` default database)',
  'sink.flushRows': 'flush a partition buffer at this many rows…',
  'sink.flushBytes': '…or at this many bytes of consumed Avro values (the buffer is bounded in rows and bytes)…',
  'sink.flushMs': '…or when its oldest row waited this long',
  'sink.flushIdleMs': 'every buffer goes once no batch came in for this long and they hold 1,000 rows or more (a backfill or replay ended); 0 = never',
  'sink.migrate': 'run the idempotent migrations at start-up',
  dlqLoader: 'the `dlq-loader` stage: the dead-letter topic -> `<sink.database>.cdr_dead_letters` (each dead letter once; `cdrflow run dlq-loader` runs it alone)',
  'dlqLoader.enabled': 'run it in `cdrflow start`',
  'dlqLoader.maxOriginalBytes': 'original values longer than this are stored cut (`original_size` keeps the full size); a dead letter carries at most 512 KiB of its original',
  'dlqLoader.flushRows': 'flush a partition buffer at this many dead letters, at flushBytes, or when the oldest waited flushMs',
  demo: '`start --demo` only',
  'demo.callsPerSecond': 'over all four vendors together (`--rate`)',
  'reconcile.settleSec': 'calls that started less than this ago are left out (still running, late, in flight); `--settle`',
  'reconcile.sourceMaxAttempts': 'vendor API attempts before the source counts as unreachable (exit 2)',
  'reconcile.repairWaitSec': 'after `--repair` re-fed records: wait this long at most for normalize and the sink',
  'reconcile.confirmSec': 'a day in progress with records missing is looked at again this much later; only what is missing twice is drift',
  'reconcile.schedule.enabled': '`cdrflow start` reconciles by itself (always on in the demo: every 300 s, yesterday and today)',
  'reconcile.schedule.daysBack': '1 = yesterday',
  'reconcile.schedule.tz': 'day convention: UTC or a whole-hour offset within ±14:00 (`+08:00`), as `--tz` of `cdrflow reconcile`',
  'demo.historyMinutes': 'history the pull simulators hold at start (read by the first poll)',
  'demo.malformedRate': 'share of push records that are wrong inside (dead-lettered with the reason)',
  'demo.duplicateRate': 'share of accepted Huawei batches pushed again',
  'demo.seed': 'default: a new seed per run',
};

/** Defaults computed at run time, shown by name instead of this machine's value. */
const DYNAMIC_DEFAULTS: Record<string, string> = { 'normalize.instanceId': 'host name' };

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  const t = Array.isArray(s.type) ? s.type.join('\\|') : (s.type ?? 'any');
  if (t === 'array' && s.items) return s.items.enum || s.items.anyOf ? `(${typeOf(s.items)})[]` : `${typeOf(s.items)}[]`;
  return t;
}

function constraints(s: JsonSchema): string {
  // A nullable field's bounds sit on its non-null member (`piiKey`: string of 16 or more, or null).
  if (s.anyOf) return s.anyOf.map(constraints).filter(Boolean).join(', ');
  const out: string[] = [];
  // z.int() states the safe-integer range; it says nothing to a reader.
  s = { ...s };
  if (s.maximum !== undefined && s.maximum >= Number.MAX_SAFE_INTEGER) delete s.maximum;
  if (s.minimum !== undefined && s.minimum <= Number.MIN_SAFE_INTEGER) delete s.minimum;
  if (s.minimum !== undefined && s.maximum !== undefined) out.push(`${s.minimum}–${s.maximum}`);
  else if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  else if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.format === 'uri') out.push('URL');
  if (s.minItems) out.push(`at least ${s.minItems}`);
  // A length of 1 or more is every such field's, stated where it matters ("not empty"); longer or capped ones refuse
  // values a reader would not guess.
  const minLength = s.minLength !== undefined && s.minLength > 1 ? s.minLength : undefined;
  if (minLength !== undefined && s.maxLength !== undefined) out.push(`${minLength}–${s.maxLength} characters`);
  else if (minLength !== undefined) out.push(`at least ${minLength} characters`);
  else if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.pattern && !s.pattern.startsWith('^\\/')) out.push(`\`${s.pattern.replace(/\|/g, '\\|')}\``);
  if (s.pattern?.startsWith('^\\/')) out.push('starts with /');
  return out.join(', ');
}

interface Row {
  path: string;
  type: string;
  default: string;
  notes: string;
}

function walk(s: JsonSchema, path: string, required: boolean, rows: Row[]): void {
  const objectLike = s.type === 'object' && s.properties;
  const arrayOfObjects = s.type === 'array' && s.items?.type === 'object' && s.items.properties;
  if (path !== '') {
    const dflt = DYNAMIC_DEFAULTS[path] ?? (s.default === undefined || (objectLike && JSON.stringify(s.default) === '{}') ? '' : `\`${JSON.stringify(s.default)}\``);
    const notes = [required ? '**required**' : '', DESCRIPTIONS[path] ?? '', constraints(s)].filter(Boolean).join('; ');
    rows.push({ path: `\`${path}\``, type: objectLike ? 'object' : arrayOfObjects ? 'object[]' : typeOf(s), default: dflt, notes });
  }
  if (objectLike) {
    for (const [key, child] of Object.entries(s.properties!)) walk(child, path ? `${path}.${key}` : key, s.required?.includes(key) ?? false, rows);
  }
  if (arrayOfObjects) {
    for (const [key, child] of Object.entries(s.items!.properties!)) walk(child, `${path}[].${key}`, s.items!.required?.includes(key) ?? false, rows);
  }
}

export function configJsonSchema(): JsonSchema {
  return z.toJSONSchema(appConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** Every documented path (for the test that DESCRIPTIONS names real fields). */
export function configPaths(): string[] {
  const rows: Row[] = [];
  walk(configJsonSchema(), '', false, rows);
  return rows.map((r) => r.path.slice(1, -1));
}

export function renderConfigReference(): string {
  const rows: Row[] = [];
  walk(configJsonSchema(), '', false, rows);
  const lines = [
    '<!-- generated by app/config-reference.ts from the zod schemas; `node bin/run-ts.mjs app/config-reference.ts --write` -->',
    '',
    '| key | type | default | notes |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.path} | ${r.type} | ${r.default} | ${r.notes} |`),
    '',
    'Environment variables override the file:',
    '',
    '| variable | sets | |',
    '| --- | --- | --- |',
    ...ENV_OVERRIDES.map((e) => `| \`${e.name}\` | \`${e.path}\` | ${e.note ? `\`${e.note}\`` : ''} |`),
  ];
  return lines.join('\n');
}

export const README_START = '<!-- config-reference -->';
export const README_END = '<!-- /config-reference -->';

export function readmeSection(readme: string): string | undefined {
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + README_START.length, b).trim();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--write')) {
  const file = join(REPO_ROOT, 'README.md');
  const readme = readFileSync(file, 'utf8');
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${README_START} … ${README_END} section`);
  writeFileSync(file, `${readme.slice(0, a + README_START.length)}\n${renderConfigReference()}\n${readme.slice(b)}`);
  console.log('README.md configuration reference updated');
}
