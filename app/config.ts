// Configuration of the main job (`cdrflow start`): one document composed of the components' own zod schemas, read
// from a YAML/JSON file plus environment overrides and validated in one pass, so every problem is reported at once
// with its path. The components keep their defaults; this file only adds where the servers are and the demo knobs.
import { readSmallTextFile } from '../core/user-file.ts';
import { zodIssues, type ConfigProblem } from '../core/zod-issues.ts';
import { isAbsolute, resolve } from 'node:path';
import { REPO_ROOT } from '../core/repo-root.ts';
import YAML from 'yaml';
import { z } from 'zod';
import { cccConfigSchema, cccTenants } from '../connectors/tencent-ccc/config.ts';
import { trtcConfigSchema, trtcTenants } from '../connectors/tencent-trtc/config.ts';
import { ReceiverConfigSchema } from '../connectors/push-vendors.ts';
import { normalizeServiceConfigSchema } from '../transforms/normalize/service/config.ts';
import { dlqLoaderConfigSchema, sinkConfigSchema } from '../sinks/clickhouse/config.ts';
import { reconcileConfigSchema } from '../reconcile/config.ts';
import { ALL_RAW_TOPICS, CONSUMER_GROUPS, TOPICS, VENDORS, type Vendor } from '../core/topology.ts';
import { DEFAULT_PORT_BASE, localPorts, type LocalPorts } from '../core/local-endpoints.ts';
import { DEFAULT_SQL_LIMITS } from '../core/read-only-sql.ts';
import type { KafkaSettings } from '../core/kafka.ts';
import type { ClickHouseTarget } from '../core/clickhouse.ts';
import { boundReason, hasControlCharacter, MAX_REASON_CHARS, parseJsonStrict, printable, quote, replacementCharProblem, terminalText } from '../core/input-limits.ts';
import { httpUrl, timerSec } from '../core/zod-issues.ts';
import { MAX_SEED } from '../simulators/kit.ts';


const port = z.int().min(0).max(65535);
const PORT_BASE_MIN = 1024;
const PORT_BASE_MAX = 65000;

/**
 * Two normalize members by default: a billing team's first job is a backfill or a replay, and on a backlog one
 * member spends much of its time waiting for its transactions and fetches, which a second overlaps (2026-12-02, 2-core
 * VM, interleaved pairs: `cdrflow start` on a 100,000-record backlog 19,308 and 21,905 rec/s with two against 17,222
 * and 15,029 with one; end to end 15,598–16,241 against 13,745–13,865). The price under steady traffic: two members
 * commit twice the transactions (at 2,000 CDR/s the job 1.11–1.19 cores against 0.86–0.92, the broker 0.48–0.50
 * against 0.26–0.28; the receiver's ack p99 38–83 ms against 28–33). `normalize.workers: 1` for a small, steady feed.
 * (Two members were the default once before and were withdrawn when the demo job failed to drain on SIGINT: their
 * interleaved transactions end a partition in two markers, and the sink committed short of them; see
 * Batcher.skipMarkers.) Those backlog figures counted what the first member did before the benchmark's clock
 * started; counted without it (2026-12-03, docs/performance.md), one member and two made the same end to end and in
 * the job (3 interleaved pairs each), two at more CPU per record: the default is open to revisiting.
 */
export const DEFAULT_NORMALIZE_WORKERS = 2;
/** `start --demo`'s calls per second over all four vendors (demo.callsPerSecond, `--rate`): the default and the most. */
export const DEMO_CALLS_PER_SECOND = { default: 4, max: 500 } as const;

/**
 * A user name (Kafka SASL, ClickHouse), named in a problem by its variable: a control character in one is a paste
 * error, not a name. Accepted, it went out at the first login (a header, a SASL frame) and came back as the server's
 * refusal; refused here, with the name shown escaped.
 */
const userName = (env: string) =>
  z
    .string()
    .min(1)
    .refine((u) => !hasControlCharacter(u), { error: (iss) => `a control character in the user name (env ${env}): ${quote(iss.input)}`, abort: true });

export const appConfigSchema = z.strictObject({
  /**
   * Prefix for every topic, consumer group and transactional id this job uses (`<namespace>.cdr.raw.…`), so several
   * pipelines (or a test) can share one Kafka cluster. A component's own explicit names win over it.
   */
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, underscore and dash only')
    .optional(),
  kafka: z
    .strictObject({
      /** Absent: the local stack on the port base (started when it is not running). Env KAFKA_BROKERS. */
      brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port')).min(1).optional(),
      clientId: z.string().min(1).default('cdrflow'),
      /** Env KAFKA_SSL=true (or false; any other value is refused). */
      ssl: z.boolean().default(false),
      /** Env KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD. */
      sasl: z
        .strictObject({
          mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).default('plain'),
          // SASL PLAIN separates the user from the password by a NUL.
          username: userName('KAFKA_SASL_USERNAME'),
          // As an empty KAFKA_SASL_PASSWORD is (unset): taken, it reached the broker as a login that was refused later.
          password: z.string().min(1, 'empty: set KAFKA_SASL_PASSWORD, or kafka.sasl.password in the config file'),
        })
        .optional(),
    })
    .prefault({}),
  schemaRegistry: z
    .strictObject({
      /** Confluent-compatible API root. Absent: the local Apicurio (…/apis/ccompat/v7). Env SCHEMA_REGISTRY_URL. */
      url: httpUrl().optional(),
    })
    .prefault({}),
  clickhouse: z
    .strictObject({
      /** A ClickHouse server (http[s]://host:8123). Absent: the embedded engine in `dataDir`. Env CLICKHOUSE_URL. */
      url: httpUrl()
        // The URL is shown (the status line, /status): a password inside it would be shown with it.
        .refine((u) => !URL.canParse(u) || (new URL(u).username === '' && new URL(u).password === ''), 'no user or password inside the URL: set clickhouse.username and clickhouse.password (CLICKHOUSE_USER, CLICKHOUSE_PASSWORD)')
        .optional(),
      /** Env CLICKHOUSE_USER. */
      username: userName('CLICKHOUSE_USER')
        // HTTP Basic auth has no way to quote one: the server splits at the first colon, so "ana:lyst" logged in as
        // "ana" with the rest of the name in front of the password.
        .refine((u) => !u.includes(':'), { error: (iss) => `a colon in the user name (env CLICKHOUSE_USER), which HTTP Basic auth cannot carry: ${quote(iss.input)}` })
        .default('default'),
      /** Env CLICKHOUSE_PASSWORD. */
      password: z.string().default(''),
      /** Embedded engine data directory (one process at a time), relative to the repository. Env CLICKHOUSE_DATA_DIR. */
      dataDir: z
        .string()
        .min(1)
        // No path can hold one: accepted, it failed when the directory was first used, with the file system's words.
        .refine((d) => !d.includes('\0'), { error: (iss) => `a NUL character in the path (env CLICKHOUSE_DATA_DIR): ${quote(iss.input)}` })
        .default('.data/clickhouse'),
    })
    .prefault({}),
  localInfra: z
    .strictObject({
      /** Port base of the local stack and the ops port (Kafka base+92, registry base+81, ops base+70). Env CDRFLOW_PORT_BASE. */
      portBase: z.int().min(PORT_BASE_MIN).max(PORT_BASE_MAX).default(DEFAULT_PORT_BASE),
      /** Start the local Kafka + registry when they are needed and not running (stopped again on exit). */
      autoStart: z.boolean().default(true),
    })
    .prefault({}),
  ops: z
    .strictObject({
      /** /healthz /readyz /metrics /status /sql on 127.0.0.1. Default: port base + 70. Env CDRFLOW_OPS_PORT. */
      port: port.optional(),
      /** Seconds between status lines on stderr (0 = none). */
      statusIntervalSec: timerSec().min(0).default(5),
      /** Limits of user SQL (`cdrflow sql`, POST /sql), enforced by the engine; the session is read-only. */
      sql: z
        .strictObject({
          maxExecutionTimeSec: z.number().positive().max(3600).default(DEFAULT_SQL_LIMITS.maxExecutionTimeSec),
          maxResultRows: z.int().positive().default(DEFAULT_SQL_LIMITS.maxResultRows),
          maxResultBytes: z.int().positive().default(DEFAULT_SQL_LIMITS.maxResultBytes),
          maxMemoryBytes: z.int().positive().default(DEFAULT_SQL_LIMITS.maxMemoryBytes),
          maxThreads: z.int().positive().max(64).default(DEFAULT_SQL_LIMITS.maxThreads),
          maxConcurrent: z.int().positive().max(16).default(DEFAULT_SQL_LIMITS.maxConcurrent),
        })
        .prefault({}),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** After intake stopped, wait this long at most for normalize, the sink and the dead-letter loader to catch up (lag 0). */
      drainTimeoutSec: z.number().min(0).max(600).default(15),
      /**
       * Whatever still runs after a stop request (a stuck query, a broker that never answers), the process exits
       * non-zero this long after it, having signalled the local servers it started.
       */
      hardDeadlineSec: z.number().positive().max(3600).default(45),
    })
    .prefault({}),
  /**
   * The job's bulk threads: the normalize workers and the sink's render thread. They run at this nice value (Linux,
   * per thread), so that when both cores are busy the main thread (the receiver's acks, the ops port, the sink's Kafka
   * heartbeats) and the local broker get a core first. A backlog still uses every idle cycle; 0 = the same priority.
   * 10 since two normalize members are the default (they took the receiver's ack p99 at 2,000 CDR/s to 124 ms in a
   * full run at nice 5): three interleaved pairs, nice 10 against 5, ack p99 24–29 ms against 31–55, max 56–66 ms
   * against 69–132; the job on a backlog 26,941–29,306 rec/s against 28,124–30,619. The price is a freshly started
   * job's first seconds at a high rate, when V8 compiles at nice 0 and normalize lags: at nice 0 its first 10 s at
   * 2,000 CDR/s had push → countable p99 1.4–1.7 s against 1.9–2.3, but the receiver's ack p99 92–308 ms against 38–45.
   */
  workerThreads: z
    .strictObject({
      nice: z.int().min(0).max(19).default(10),
    })
    .prefault({}),
  /** Pull connectors; a vendor runs when its section is present. */
  connectors: z
    .strictObject({
      'tencent-ccc': cccConfigSchema.optional(),
      'tencent-trtc': trtcConfigSchema.optional(),
    })
    .prefault({}),
  /** The push receiver (Huawei PrivateNumber and/or Alibaba LVMS); runs when present. */
  receiver: ReceiverConfigSchema.optional(),
  normalize: normalizeServiceConfigSchema
    .extend({
      /**
       * Members of the normalize consumer group this job runs, each in a worker thread of its own (a core each), the
       * first with transactional id `<groupId>.<instanceId>`, each further one with `<groupId>.<instanceId>-w<i>`.
       */
      workers: z.int().min(1).max(16).default(DEFAULT_NORMALIZE_WORKERS),
    })
    .prefault({}),
  sink: sinkConfigSchema.prefault({}),
  /** The dead-letter loader: cdr.dlq -> `<sink.database>.cdr_dead_letters`, so dead letters can be counted in SQL. */
  dlqLoader: dlqLoaderConfigSchema.prefault({}),
  /** `cdrflow reconcile` and the job's scheduled reconcile. */
  reconcile: reconcileConfigSchema.prefault({}),
  /** `start --demo`: the four vendor simulators with steady traffic, connectors and receiver pointed at them. */
  demo: z
    .strictObject({
      /** Calls per second over all four vendors together (`--rate`). */
      callsPerSecond: z.number().positive().max(DEMO_CALLS_PER_SECOND.max).default(DEMO_CALLS_PER_SECOND.default),
      /** Calls per pull-vendor tenant already in the simulators' history when the demo starts (read on the first poll). */
      historyMinutes: z.int().min(0).max(24 * 60).default(15),
      /** Share of push records that are wrong inside (stored raw, dead-lettered by normalize with the reason). */
      malformedRate: z.number().min(0).max(1).default(0.02),
      /** Share of accepted Huawei batches pushed again (the vendor's duplicates). */
      duplicateRate: z.number().min(0).max(1).default(0.05),
      /** Share of pushes a flaky network refuses with 503 before the receiver, so the vendors' retries run. */
      flakyPushRate: z.number().min(0).max(0.5).default(0.03),
      /** Demo polling: short so CDRs appear within seconds of the call's end. */
      pollIntervalSec: timerSec().positive().default(10),
      settleSec: z.int().min(0).default(5),
      /** Seed of the generated traffic; default: a new one per run (new calls, new keys). */
      seed: z.int().min(0).max(MAX_SEED).optional(),
    })
    .prefault({}),
});

export type AppConfig = z.output<typeof appConfigSchema>;
export type AppConfigInput = z.input<typeof appConfigSchema>;

export type { ConfigProblem } from '../core/zod-issues.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly problems: ConfigProblem[],
    readonly source: string,
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${problemLine(p)}`).join('\n')}`);
  }
}

/**
 * One problem as one terminal line. What it quotes comes from the file or the environment (zod quotes an unknown key
 * as it is): an escape sequence, a bidi override or a megabyte-long key would reach the terminal whole.
 */
function problemLine(p: ConfigProblem): string {
  const line = terminalText(`${p.path}: ${p.message}`);
  return line.length > MAX_REASON_CHARS ? `${line.slice(0, MAX_REASON_CHARS)}… (cut, ${line.length} chars)` : line;
}

/**
 * JSON.parse's complaint without the text it quotes: a config file and CDRFLOW_HUAWEI_APPS/CDRFLOW_LVMS_APPS hold
 * secrets, and `Unexpected token 'h', ..."password": hunter2}" is not valid JSON` printed one.
 */
function jsonSyntaxReason(problem: string): string {
  return boundReason(problem.replace(/^malformed JSON: /, '').replace(/^Unexpected token .*? is not valid JSON$/s, 'an unexpected character (not shown: the text may hold secrets)'), 300);
}

type Doc = Record<string, unknown>;

function isObject(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `path` inside `doc`, created when missing (a non-object there is left for zod to report). */
function section(doc: Doc, ...path: string[]): Doc {
  let cur = doc;
  for (const key of path) {
    const next = cur[key];
    if (next === undefined) cur[key] = {};
    else if (!isObject(next)) return {};
    cur = cur[key] as Doc;
  }
  return cur;
}

/** Environment variables that override the file, with the config path each one sets. */
export const ENV_OVERRIDES: readonly { name: string; path: string; note: string }[] = [
  { name: 'KAFKA_BROKERS', path: 'kafka.brokers', note: 'comma-separated host:port list' },
  { name: 'KAFKA_SSL', path: 'kafka.ssl', note: 'true (TLS) or false; any other value is refused' },
  { name: 'KAFKA_SASL_MECHANISM', path: 'kafka.sasl.mechanism', note: 'plain, scram-sha-256, scram-sha-512' },
  { name: 'KAFKA_SASL_USERNAME', path: 'kafka.sasl.username', note: 'SASL needs a user and a password (each from the file or the environment)' },
  { name: 'KAFKA_SASL_PASSWORD', path: 'kafka.sasl.password', note: '' },
  { name: 'SCHEMA_REGISTRY_URL', path: 'schemaRegistry.url', note: 'Confluent-compatible API root' },
  { name: 'CLICKHOUSE_URL', path: 'clickhouse.url', note: 'a ClickHouse server instead of the embedded engine' },
  { name: 'CLICKHOUSE_USER', path: 'clickhouse.username', note: '' },
  { name: 'CLICKHOUSE_PASSWORD', path: 'clickhouse.password', note: '' },
  { name: 'CLICKHOUSE_DATABASE', path: 'sink.database', note: 'database of the cdr tables and views' },
  { name: 'CLICKHOUSE_DATA_DIR', path: 'clickhouse.dataDir', note: 'embedded engine data directory' },
  { name: 'CDRFLOW_PORT_BASE', path: 'localInfra.portBase', note: 'local stack and ops port base' },
  { name: 'CDRFLOW_OPS_PORT', path: 'ops.port', note: '' },
  { name: 'CDRFLOW_NAMESPACE', path: 'namespace', note: '' },
  { name: 'TENCENT_CCC_SECRET_ID', path: 'connectors.tencent-ccc.secretId', note: '' },
  { name: 'TENCENT_CCC_SECRET_KEY', path: 'connectors.tencent-ccc.secretKey', note: '' },
  { name: 'TENCENT_CCC_SDKAPPIDS', path: 'connectors.tencent-ccc.sdkAppIds', note: 'comma-separated SdkAppIds' },
  { name: 'TENCENT_CCC_ENDPOINT', path: 'connectors.tencent-ccc.endpoint', note: 'host[:port]' },
  { name: 'TENCENT_TRTC_APPS', path: 'connectors.tencent-trtc.apps', note: '<sdkAppId>:<secretKey>[:api],… (api v4 or v1)' },
  { name: 'TENCENT_TRTC_BASE_URL', path: 'connectors.tencent-trtc.baseUrl', note: '' },
  { name: 'TENCENT_TRTC_IDENTIFIER', path: 'connectors.tencent-trtc.identifier', note: '' },
  { name: 'CDRFLOW_HUAWEI_APPS', path: 'receiver.huawei.apps', note: 'JSON array of {appKey, appSecret, mode}' },
  { name: 'CDRFLOW_LVMS_APPS', path: 'receiver.lvms.apps', note: 'JSON array of {appKey, appSecret}' },
  { name: 'CDRFLOW_RECEIVER_HOST', path: 'receiver.host', note: '' },
  { name: 'CDRFLOW_RECEIVER_PORT', path: 'receiver.port', note: '' },
  { name: 'HUAWEI_BASE_URL', path: 'receiver.huawei.recordingLinks.baseUrl', note: 'Huawei APP access address (recording API); applies when Huawei apps are configured' },
];

/**
 * Applies the environment on top of the file document; values that cannot be read become problems, not throws.
 *
 * An empty variable counts as unset. Any other value must be exactly of its kind, surrounding blanks aside: a boolean
 * `true` or `false`, a number plain decimal digits within the setting's range. Nothing is read leniently: with
 * `=== 'true'`, KAFKA_SSL=1 or TRUE turned TLS off, and `Number()` read CDRFLOW_OPS_PORT=" " as port 0 (any port) and
 * "0x4000" as 16384. A refused value is one problem naming the variable; the setting is left unset.
 */
export function applyEnv(doc: Doc, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Doc {
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  /** One problem per variable (a list such as TENCENT_CCC_SDKAPPIDS may hold several bad items: the first is named). */
  const refuse = (name: string, message: string) => {
    if (!problems.some((p) => p.path === `env ${name}`)) problems.push({ path: `env ${name}`, message });
  };
  const bool = (name: string, v: string): boolean | undefined => {
    const t = v.trim();
    if (t === 'true' || t === 'false') return t === 'true';
    refuse(name, `needs true or false, got ${quote(v)}`);
    return undefined;
  };
  /** Decimal digits only: no sign (no variable here takes a negative), no blank, hex, exponent or fraction. */
  const int = (name: string, v: string, min: number, max: number, expected: string, shown = quote(v)): number | undefined => {
    const t = v.trim();
    const n = /^\d+$/.test(t) ? Number(t) : NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    refuse(name, `needs ${expected}, got ${shown}`);
    return undefined;
  };
  /** Strict, as a JSON config file: an app given `"appSecret"` twice is refused, not read with the last one. */
  const json = (name: string, v: string): unknown => {
    const parsed = parseJsonStrict(v);
    if (parsed.ok) return parsed.value;
    refuse(name, `not valid JSON: ${jsonSyntaxReason(parsed.problem)}`);
    return undefined;
  };
  let v: string | undefined;
  if ((v = get('KAFKA_BROKERS'))) section(doc, 'kafka')['brokers'] = v.split(',').map((b) => b.trim()).filter(Boolean);
  if ((v = get('KAFKA_SSL'))) {
    const ssl = bool('KAFKA_SSL', v);
    if (ssl !== undefined) section(doc, 'kafka')['ssl'] = ssl;
  }
  // Each SASL variable on its own, over the file's kafka.sasl, and the schema names what is still missing: a password
  // or a mechanism without a user was dropped without a word (SASL off, and the broker's refusal later did not say
  // why), and a user without a password was given an empty one.
  for (const [name, key] of [['KAFKA_SASL_USERNAME', 'username'], ['KAFKA_SASL_PASSWORD', 'password'], ['KAFKA_SASL_MECHANISM', 'mechanism']] as const) {
    if ((v = get(name))) section(doc, 'kafka', 'sasl')[key] = v;
  }
  if ((v = get('SCHEMA_REGISTRY_URL'))) section(doc, 'schemaRegistry')['url'] = v;
  if ((v = get('CLICKHOUSE_URL'))) section(doc, 'clickhouse')['url'] = v;
  if ((v = get('CLICKHOUSE_USER'))) section(doc, 'clickhouse')['username'] = v;
  if (env['CLICKHOUSE_PASSWORD'] !== undefined) section(doc, 'clickhouse')['password'] = env['CLICKHOUSE_PASSWORD'];
  if ((v = get('CLICKHOUSE_DATABASE'))) section(doc, 'sink')['database'] = v;
  if ((v = get('CLICKHOUSE_DATA_DIR'))) section(doc, 'clickhouse')['dataDir'] = v;
  if ((v = get('CDRFLOW_PORT_BASE'))) {
    const base = int('CDRFLOW_PORT_BASE', v, PORT_BASE_MIN, PORT_BASE_MAX, `a port base ${PORT_BASE_MIN}..${PORT_BASE_MAX}`);
    if (base !== undefined) section(doc, 'localInfra')['portBase'] = base;
  }
  if ((v = get('CDRFLOW_OPS_PORT'))) {
    const opsPort = int('CDRFLOW_OPS_PORT', v, 0, 65535, 'a port number 0..65535');
    if (opsPort !== undefined) section(doc, 'ops')['port'] = opsPort;
  }
  if ((v = get('CDRFLOW_NAMESPACE'))) doc['namespace'] = v;

  if ((v = get('TENCENT_CCC_SECRET_ID'))) section(doc, 'connectors', 'tencent-ccc')['secretId'] = v;
  if ((v = get('TENCENT_CCC_SECRET_KEY'))) section(doc, 'connectors', 'tencent-ccc')['secretKey'] = v;
  if ((v = get('TENCENT_CCC_SDKAPPIDS'))) {
    const ids = v.split(',').map((s) => int('TENCENT_CCC_SDKAPPIDS', s, 1, Number.MAX_SAFE_INTEGER, 'a positive integer for each SdkAppId'));
    section(doc, 'connectors', 'tencent-ccc')['sdkAppIds'] = ids;
  }
  if ((v = get('TENCENT_CCC_ENDPOINT'))) section(doc, 'connectors', 'tencent-ccc')['endpoint'] = v;
  if ((v = get('TENCENT_TRTC_APPS'))) {
    section(doc, 'connectors', 'tencent-trtc')['apps'] = v.split(',').map((pair, i) => {
      const [id, key, api] = pair.split(':');
      // Nothing of the value is quoted, not even what stands where the id goes: an item without its id, or written
      // key first, has its secret key there, and the problem printed it.
      const shown = `something else in item ${i + 1} (not shown: the value holds secret keys)`;
      const app = { sdkAppId: int('TENCENT_TRTC_APPS', id ?? '', 1, Number.MAX_SAFE_INTEGER, 'a positive integer sdkAppId before each secret key', shown), secretKey: (key ?? '').trim() };
      return api === undefined ? app : { ...app, api: api.trim() };
    });
  }
  if ((v = get('TENCENT_TRTC_BASE_URL'))) section(doc, 'connectors', 'tencent-trtc')['baseUrl'] = v;
  if ((v = get('TENCENT_TRTC_IDENTIFIER'))) section(doc, 'connectors', 'tencent-trtc')['identifier'] = v;
  if ((v = get('CDRFLOW_HUAWEI_APPS'))) section(doc, 'receiver', 'huawei')['apps'] = json('CDRFLOW_HUAWEI_APPS', v);
  if ((v = get('CDRFLOW_LVMS_APPS'))) section(doc, 'receiver', 'lvms')['apps'] = json('CDRFLOW_LVMS_APPS', v);
  // Only beside configured Huawei apps: on its own it would make a Huawei section without apps, an error.
  if ((v = get('HUAWEI_BASE_URL')) && isObject(doc['receiver']) && isObject(doc['receiver']['huawei'])) section(doc, 'receiver', 'huawei', 'recordingLinks')['baseUrl'] = v;
  if ((v = get('CDRFLOW_RECEIVER_HOST'))) section(doc, 'receiver')['host'] = v;
  if ((v = get('CDRFLOW_RECEIVER_PORT'))) {
    const receiverPort = int('CDRFLOW_RECEIVER_PORT', v, 0, 65535, 'a port number 0..65535');
    if (receiverPort !== undefined) section(doc, 'receiver')['port'] = receiverPort;
  }
  return doc;
}

/**
 * Fills topic, group and transactional names from `namespace` where the component sections leave them out, so the
 * components' own schemas still validate (and report) every name.
 */
export function applyNamespace(doc: Doc): Doc {
  const ns = doc['namespace'];
  if (typeof ns !== 'string' || ns === '') return doc;
  const n = (name: string) => `${ns}.${name}`;
  const setDefault = (target: Doc, key: string, value: unknown) => {
    if (target[key] === undefined) target[key] = value;
  };
  const raw = (v: Vendor) => n(TOPICS.raw(v));
  const normalize = section(doc, 'normalize');
  setDefault(normalize, 'groupId', n(CONSUMER_GROUPS.normalize));
  setDefault(normalize, 'inputTopics', ALL_RAW_TOPICS.map(n));
  setDefault(normalize, 'outputTopic', n(TOPICS.normalized));
  setDefault(normalize, 'deadLetterTopic', n(TOPICS.deadLetter));
  const sink = section(doc, 'sink');
  setDefault(sink, 'groupId', n(CONSUMER_GROUPS.clickhouseSink));
  setDefault(sink, 'inputTopic', n(TOPICS.normalized));
  setDefault(sink, 'deadLetterTopic', n(TOPICS.deadLetter));
  const dlqLoader = section(doc, 'dlqLoader');
  setDefault(dlqLoader, 'groupId', n(CONSUMER_GROUPS.dlqLoader));
  setDefault(dlqLoader, 'inputTopic', n(TOPICS.deadLetter));
  const connectors = isObject(doc['connectors']) ? doc['connectors'] : {};
  for (const vendor of ['tencent-ccc', 'tencent-trtc'] as const) {
    const c = connectors[vendor];
    if (!isObject(c)) continue;
    const topics = section(c, 'topics');
    setDefault(topics, 'raw', raw(vendor));
    setDefault(topics, 'checkpoints', n(TOPICS.checkpoints));
    setDefault(topics, 'deadLetter', n(TOPICS.deadLetter));
  }
  const receiver = doc['receiver'];
  if (isObject(receiver)) {
    if (isObject(receiver['huawei'])) {
      const topics = section(receiver['huawei'], 'topics');
      setDefault(topics, 'fee', raw('huawei-privatenumber'));
      setDefault(topics, 'events', n(TOPICS.huaweiCallEvents));
    }
    if (isObject(receiver['lvms'])) setDefault(receiver['lvms'], 'topic', raw('alibaba-lvms'));
  }
  return doc;
}

/**
 * The first value a YAML tag turned into something other than plain data (`!!binary` a byte array, `!!set` a Set,
 * `!!omap` a Map, `!!timestamp` a Date), as a problem at its path. Such a section was read as an empty object, its
 * settings dropped without a word, or listed every Buffer method as an unknown key.
 */
function typedYamlValue(value: unknown, path: string): ConfigProblem | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    return { path: path || '(root)', message: `a YAML-typed value (${kind}, from a tag such as !!binary, !!set, !!omap or !!timestamp); write plain mappings, lists, strings, numbers and booleans` };
  }
  for (const [key, item] of Object.entries(value)) {
    const found = typedYamlValue(item, path === '' ? key : `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

/**
 * A JSON file a user named besides the configuration (`normalize --options`, `recording --record`) as its value, read
 * as a JSON config is: whole UTF-8 (bytes that are not were read as U+FFFD, which would change a piiKey without a
 * word), the strict parser (a member given twice is refused, not the last one taken), a syntax error that does not
 * quote the text (JSON.parse's complaint showed part of a piiKey), and one JSON object, `null` included in what is
 * refused. Throws an Error saying what is wrong.
 */
export function readUserJsonFile(file: string): Doc {
  const text = readSmallTextFile(file);
  const notUtf8 = replacementCharProblem(text);
  if (notUtf8 !== null) throw new Error(`${notUtf8} (save the file as UTF-8)`);
  const parsed = parseJsonStrict(text);
  if (!parsed.ok) throw new Error(`not valid JSON: ${jsonSyntaxReason(parsed.problem)}`);
  // A file of `null` was read as no options at all, the defaults, without a word (a piiKey left unset).
  if (!isObject(parsed.value)) throw new Error(`holds ${jsonKind(parsed.value)}, not a JSON object`);
  return parsed.value;
}

/** What a JSON value is, in a problem, without showing it (a string or a list may be a pasted secret). */
function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

/** Whether a YAML text that parsed as null says so (`null`, `~`) rather than holding no document at all. */
function explicitYamlNull(text: string): boolean {
  const contents = YAML.parseDocument(text).contents as { source?: unknown } | null;
  return typeof contents?.source === 'string' && contents.source !== '';
}

/** Reads a YAML or JSON file into a document; a syntax error is a problem with the file name as its path. */
export function readConfigFile(file: string, problems: ConfigProblem[]): Doc {
  let text: string;
  try {
    text = readSmallTextFile(file);
  } catch (err) {
    problems.push({ path: printable(file), message: `cannot read: ${boundReason((err as Error).message, 300)}` });
    return {};
  }
  // Bytes that are not UTF-8 were read as U+FFFD: a password or a name would have been changed without a word.
  const notUtf8 = replacementCharProblem(text);
  if (notUtf8 !== null) {
    problems.push({ path: printable(file), message: `${notUtf8} (save the file as UTF-8)` });
    return {};
  }
  let doc: unknown;
  if (/\.json$/i.test(file)) {
    // The strict parser, as YAML is: JSON.parse kept the last of two `"sink"` members and dropped the first silently.
    // Its depth limit (MAX_JSON_DEPTH) is well beyond the schema's deepest setting (5 levels, root included).
    const parsed = parseJsonStrict(text);
    if (!parsed.ok) {
      problems.push({ path: printable(file), message: `not valid JSON: ${jsonSyntaxReason(parsed.problem)}` });
      return {};
    }
    doc = parsed.value;
  } else {
    try {
      doc = YAML.parse(text, { prettyErrors: true });
    } catch (err) {
      // The parser recurses per level: a document nested thousands deep overflows the stack, which is the file's fault.
      const message = /Maximum call stack size exceeded/.test((err as Error).message) ? 'nested too deeply' : boundReason((err as Error).message.split('\n')[0]!, 300);
      problems.push({ path: printable(file), message: `not valid YAML: ${message}` });
      return {};
    }
  }
  // A YAML file with no document in it (empty, or comments only) is no settings: the defaults and the environment. A
  // `null` written out (JSON's, YAML's `null` or `~`) is a mistake, read as that same empty file without a word.
  if (doc === null && !/\.json$/i.test(file) && !explicitYamlNull(text)) return {};
  if (!isObject(doc)) {
    problems.push({ path: printable(file), message: 'must hold an object (a mapping of sections)' });
    return {};
  }
  const typed = typedYamlValue(doc, '');
  if (typed !== undefined) {
    problems.push(typed);
    return {};
  }
  return doc;
}


export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Flags, applied last (e.g. `--rate` → demo.callsPerSecond). */
  overrides?: (doc: Doc) => void;
  /**
   * The command runs the sources and normalize as one pipeline (`start`) or counts what they wrote (`reconcile`):
   * the sources' raw topics are also held to normalize's inputs (sourceTopicProblems). Commands that run one part
   * alone (`receive`, `poll`, `backfill`, `import`) may serve a normalize configured elsewhere.
   */
  wholePipeline?: boolean;
}

/**
 * A required setting that is missing names the environment variable that sets it, if one does: most people give
 * credentials that way, and "expected string, received undefined" alone does not say how.
 */
function missingWithEnvHint(problem: ConfigProblem): ConfigProblem {
  const env = ENV_OVERRIDES.find((e) => e.path === problem.path);
  if (env === undefined || !problem.message.endsWith('received undefined')) return problem;
  return { path: problem.path, message: `missing: set ${env.name}, or ${problem.path} in the config file` };
}

/**
 * A setting whose environment variable could not be read (`CDRFLOW_OPS_PORT=abc`, `CDRFLOW_HUAWEI_APPS='not json'`)
 * is reported once, as that variable: the schema's own complaint about the value left behind ("received NaN",
 * "missing: set CDRFLOW_HUAWEI_APPS") would be a second line about the same mistake, and a misleading one.
 */
function notAboutUnreadableEnv(problems: ConfigProblem[]): (problem: ConfigProblem) => boolean {
  const paths = ENV_OVERRIDES.filter((e) => problems.some((p) => p.path === `env ${e.name}`)).map((e) => e.path);
  return (problem) => !paths.some((path) => problem.path === path || problem.path.startsWith(`${path}.`) || problem.path.startsWith(`${path}[`));
}

/** File + environment + flags → a validated config, or a ConfigError listing every problem with its path. */
export function loadAppConfig(options: LoadOptions = {}): AppConfig {
  const env = options.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const doc = options.file ? readConfigFile(options.file, problems) : {};
  applyEnv(doc, env, problems);
  options.overrides?.(doc);
  applyNamespace(doc);
  const parsed = appConfigSchema.safeParse(doc);
  if (!parsed.success) problems.push(...zodIssues(parsed.error, appConfigSchema).filter(notAboutUnreadableEnv(problems)).map(missingWithEnvHint));
  const source = [options.file === undefined ? 'no config file' : printable(options.file), 'environment'].join(' + ');
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems, source);
  const crossed = [...topologyProblems(parsed.data), ...(options.wholePipeline === true ? sourceTopicProblems(parsed.data) : [])];
  if (crossed.length > 0) throw new ConfigError(crossed, source);
  return parsed.data;
}

/**
 * Topics and consumer groups that play two roles at once, each valid on its own. Found by an operator walk, each was
 * taken: the sink in normalize's group (nothing normalized, no error, for good), the sink or the dead-letter loader
 * reading another stage's topic (every record thrown away and its offset committed), normalize writing into one of its
 * inputs (a "bug" or a registry refusal after half the job had started), two vendors' receivers on one raw topic.
 */
export function topologyProblems(config: AppConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const groups: [string, string][] = [
    ['normalize.groupId', config.normalize.groupId],
    ['sink.groupId', config.sink.groupId],
    ['dlqLoader.groupId', config.dlqLoader.groupId],
  ];
  for (const [path, group, other] of repeats(groups)) {
    problems.push({ path, message: `consumer group ${group} is also ${other}: each stage needs a group of its own (in one group the stages split the partitions of topics only one of them reads)` });
  }
  const raw = new Set(config.normalize.inputTopics);
  const roles = (topic: string): string[] => [
    ...(raw.has(topic) ? ['an input of normalize (normalize.inputTopics)'] : []),
    ...(topic === config.normalize.outputTopic ? ['normalize.outputTopic'] : []),
    ...(topic === config.normalize.deadLetterTopic || topic === config.sink.deadLetterTopic ? ['a dead-letter topic'] : []),
  ];
  const check = (path: string, topic: string, allowed: (role: string) => boolean) => {
    const clash = roles(topic).filter((role) => !allowed(role));
    if (clash.length > 0) problems.push({ path, message: `topic ${topic} is also ${clash.join(' and ')}: a topic plays one part in the pipeline` });
  };
  check('normalize.outputTopic', config.normalize.outputTopic, (role) => role === 'normalize.outputTopic');
  check('normalize.deadLetterTopic', config.normalize.deadLetterTopic, (role) => role === 'a dead-letter topic');
  check('sink.inputTopic', config.sink.inputTopic, (role) => role === 'normalize.outputTopic');
  check('sink.deadLetterTopic', config.sink.deadLetterTopic, (role) => role === 'a dead-letter topic');
  check('dlqLoader.inputTopic', config.dlqLoader.inputTopic, (role) => role === 'a dead-letter topic');
  const receiverTopics: [string, string | undefined][] = [
    ['receiver.huawei.topics.fee', config.receiver?.huawei?.topics.fee],
    ['receiver.huawei.topics.events', config.receiver?.huawei?.topics.events],
    ['receiver.lvms.topic', config.receiver?.lvms?.topic],
  ];
  for (const [path, topic, other] of repeats(receiverTopics)) {
    problems.push({ path, message: `topic ${topic} is also ${other}: each kind of push needs a topic of its own (normalize reads a raw topic as one vendor's)` });
  }
  return problems;
}

/**
 * A whole pipeline's sources against normalize's inputs: a source's raw records must reach normalize, and reconcile
 * must count them under the source's vendor. Each was silent: a poller's or a receiver's own topic left out of
 * normalize.inputTopics was stored and never normalized, loaded or reconciled; a topic named like another vendor's raw
 * topic was reconciled as that vendor's; an input no source names and no name tells apart was never reconciled.
 */
export function sourceTopicProblems(config: AppConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const raw = new Set(config.normalize.inputTopics);
  const events = config.receiver?.huawei?.topics.events;
  if (events !== undefined && raw.has(events)) {
    problems.push({ path: 'normalize.inputTopics', message: `topic ${events} is receiver.huawei.topics.events: call events are kept raw, not CDRs; normalize would dead-letter every one` });
  }
  const sources = sourceRawTopics(config);
  for (const { path, vendor, topic } of sources) {
    const claimed = namedVendor(topic);
    if (claimed !== undefined && claimed !== vendor) {
      problems.push({ path, message: `topic ${topic} is named as ${claimed}'s raw topic but holds ${vendor}'s records: reconcile would count them as ${claimed}'s; name it ….raw.${vendor} or anything not named for another vendor` });
    } else if (!raw.has(topic)) {
      problems.push({ path, message: `topic ${topic} is not among normalize.inputTopics: its records would be stored and never normalized, loaded or reconciled; add it there` });
    }
  }
  const sourceTopics = new Set(sources.map((s) => s.topic));
  config.normalize.inputTopics.forEach((topic, i) => {
    if (!sourceTopics.has(topic) && namedVendor(topic) === undefined) {
      problems.push({ path: `normalize.inputTopics.${i}`, message: `topic ${topic} is neither a connector's or receiver's raw topic nor named like one (….raw.<vendor>): reconcile could not tell whose calls it holds` });
    }
  });
  return problems;
}

/** The vendor a topic is named for (`….raw.<vendor>`), as a raw topic no source of this config names is told apart. */
const namedVendor = (topic: string): Vendor | undefined => VENDORS.find((v) => topic.endsWith(`raw.${v}`));

/** The raw topic each configured source (a poller, a receiver) writes to, with its setting's path and its vendor. */
export function sourceRawTopics(config: AppConfig): { path: string; vendor: Vendor; topic: string }[] {
  const out: { path: string; vendor: Vendor; topic: string }[] = [];
  const add = (path: string, vendor: Vendor, topic: string | undefined) => {
    if (topic !== undefined) out.push({ path, vendor, topic });
  };
  add('connectors.tencent-ccc.topics.raw', 'tencent-ccc', config.connectors['tencent-ccc']?.topics.raw);
  add('connectors.tencent-trtc.topics.raw', 'tencent-trtc', config.connectors['tencent-trtc']?.topics.raw);
  add('receiver.huawei.topics.fee', 'huawei-privatenumber', config.receiver?.huawei?.topics.fee);
  add('receiver.lvms.topic', 'alibaba-lvms', config.receiver?.lvms?.topic);
  return out;
}

/**
 * The vendor whose raw records `topic` holds: the source configured to write there, else the vendor it is named for
 * (`….raw.<vendor>`); undefined for neither. The one rule reconcile and the one-shot publishers tell vendors apart by.
 */
export function rawTopicVendor(config: AppConfig, topic: string): Vendor | undefined {
  return sourceRawTopics(config).find((s) => s.topic === topic)?.vendor ?? namedVendor(topic);
}

/** Each (path, value) whose value an earlier entry has too, with that entry's path; entries without a value never repeat. */
function repeats(entries: readonly [string, string | undefined][]): [string, string, string][] {
  const first = new Map<string, string>();
  const out: [string, string, string][] = [];
  for (const [path, value] of entries) {
    if (value === undefined) continue;
    const other = first.get(value);
    if (other === undefined) first.set(value, path);
    else out.push([path, value, other]);
  }
  return out;
}

/** A topic name with the config's namespace: the default names every component derives from it. */
export function namespacedTopic(config: Pick<AppConfig, 'namespace'>, name: string): string {
  return config.namespace ? `${config.namespace}.${name}` : name;
}

/** The pull connectors' checkpoint topic when their sections leave it out: `<namespace>.cdrflow.checkpoints`. */
export function defaultCheckpointTopic(config: Pick<AppConfig, 'namespace'>): string {
  return namespacedTopic(config, TOPICS.checkpoints);
}

/** Where the pull connectors keep their checkpoints (`cdrflow status`, the job's status): CCC's, TRTC's, or the default. */
export function checkpointTopicOf(config: AppConfig): string {
  return config.connectors['tencent-ccc']?.topics.checkpoints ?? config.connectors['tencent-trtc']?.topics.checkpoints ?? defaultCheckpointTopic(config);
}

/**
 * The tenants the job started with this configuration polls, per pull vendor, as its connectors name them: what
 * `cdrflow status` without a running job counts as polled (a live checkpoint of any other tenant is not).
 */
export function pollSourcesOf(config: AppConfig): { vendor: 'tencent-ccc' | 'tencent-trtc'; tenants: string[] }[] {
  const ccc = config.connectors['tencent-ccc'];
  const trtc = config.connectors['tencent-trtc'];
  return [...(ccc ? [{ vendor: 'tencent-ccc' as const, tenants: cccTenants(ccc) }] : []), ...(trtc ? [{ vendor: 'tencent-trtc' as const, tenants: trtcTenants(trtc) }] : [])];
}

/** Absolute data directory of the embedded engine (relative paths are relative to the repository, like .data/). */
export function embeddedDataDir(config: AppConfig): string {
  const dir = config.clickhouse.dataDir;
  return isAbsolute(dir) ? dir : resolve(REPO_ROOT, dir);
}

/** Every address and port a command needs, computed from the config in this one place. */
export interface Endpoints {
  kafka: KafkaSettings;
  registryUrl: string;
  clickhouse: ClickHouseTarget;
  opsPort: number;
  /** The local stack's ports on the configured base, and which servers are the local ones (may be started here). */
  local: LocalPorts & { base: number; kafka: boolean; registry: boolean };
}

export function endpoints(config: AppConfig): Endpoints {
  const base = config.localInfra.portBase;
  const ports = localPorts(base);
  const kafka: KafkaSettings = { brokers: config.kafka.brokers ?? [`127.0.0.1:${ports.kafkaPort}`], clientId: config.kafka.clientId };
  if (config.kafka.ssl) kafka.ssl = true;
  if (config.kafka.sasl) kafka.sasl = config.kafka.sasl;
  const clickhouse: ClickHouseTarget = config.clickhouse.url
    ? { kind: 'http', url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password, database: config.sink.database }
    : { kind: 'embedded', dataDir: embeddedDataDir(config), database: config.sink.database };
  return {
    kafka,
    registryUrl: config.schemaRegistry.url ?? `http://127.0.0.1:${ports.registryPort}/apis/ccompat/v7`,
    clickhouse,
    opsPort: config.ops.port ?? ports.opsPort,
    local: { ...ports, base, kafka: config.kafka.brokers === undefined, registry: config.schemaRegistry.url === undefined },
  };
}

export function describeTarget(t: ClickHouseTarget): string {
  return t.kind === 'http' ? `${t.url} (database ${t.database})` : `embedded, data in ${t.dataDir} (database ${t.database})`;
}
