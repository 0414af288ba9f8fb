// What `cdrflow poll` and `cdrflow backfill` share: the pull connector of one vendor built from the shared config
// (the file's `connectors.<vendor>` section, the environment table, then these flags), on the configured Kafka and
// schema registry.
import { ExitError, UsageError } from './command.ts';
import { EXIT_UNAVAILABLE, EXIT_USAGE, signalExit } from '../core/exit-codes.ts';
import { asCdrflowError, disposition } from '../core/errors.ts';
import { stopRequests } from './signals.ts';
import { loadCommandConfig, setIn } from './app-config.ts';
import { defaultCheckpointTopic, endpoints, type AppConfig } from '../app/config.ts';
import { topicExists } from '../core/kafka.ts';
import { checkpointTopicProblem, checkTargetTopic, defaultRawTopic, targetTopicProblem } from '../connectors/file-import/target-topic.ts';
import { createRegistry } from '../core/avro.ts';
import { createCccConnector } from '../connectors/tencent-ccc/index.ts';
import { createTrtcConnector } from '../connectors/tencent-trtc/index.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import { positiveNumber } from './args.ts';
import { commandKafka, oneShotKafka, rethrowUnreachable } from './kafka-access.ts';
import { quote, terminalText } from '../core/input-limits.ts';

export const PULL_VENDORS = ['tencent-ccc', 'tencent-trtc'] as const;
export type PullVendor = (typeof PULL_VENDORS)[number];

export const CONNECTION_FLAGS = `Connection (file < environment < flags):
  --config <file>          the pipeline's YAML or JSON (as for \`cdrflow start\`); its connectors.<vendor> section
  --rps <n>                requests per second for the whole connector (CCC default 20, TRTC 200)
  --topic <name>           raw topic (default cdr.raw.<vendor>; another name must exist already, and may not be
                           another vendor's raw topic: exit 64)
  --checkpoint-topic <t>   checkpoint topic (default cdrflow.checkpoints; another name must exist already, and may
                           not be a topic of the pipeline that holds something else: exit 64)
  tencent-ccc:  TENCENT_CCC_SECRET_ID, TENCENT_CCC_SECRET_KEY, TENCENT_CCC_SDKAPPIDS=1400000001,1400000002,
                TENCENT_CCC_ENDPOINT=host[:port], --endpoint, --protocol http|https, --connect-address <ip>
  tencent-trtc: TENCENT_TRTC_APPS=<sdkAppId>:<secretKey>,..., TENCENT_TRTC_BASE_URL, TENCENT_TRTC_IDENTIFIER, --base-url
Kafka and the schema registry: the file, KAFKA_BROKERS / SCHEMA_REGISTRY_URL, default the local stack. A run that
ends (backfill, poll --once) checks Kafka first: not reachable, one line and exit 69 in about a second. The vendor
API (or the registry) away or failing for longer than the connector's retries (retry.maxAttempts, 12 by default,
~1 minute): one line, exit 69; the windows read are checkpointed, the same command run again resumes.`;

/**
 * How a one-shot run (backfill, poll --once) that failed ends: Kafka not reachable, one line and exit 69
 * (rethrowUnreachable); a failure the connector retried without success (the vendor API or the registry away, or
 * answering 5xx or 429, for longer than its retries) exit 69 as well (a service unavailable), with what to do. Anything
 * else is thrown as it is.
 */
export async function rethrowOneShotFailure(err: unknown, config: AppConfig): Promise<never> {
  try {
    return await rethrowUnreachable(err, config);
  } catch (thrown) {
    if (thrown instanceof ExitError) throw thrown;
    const e = asCdrflowError(thrown);
    // Whatever core would have retried: a vendor's rate limit that outlasted the retries is as unavailable as a 5xx.
    if (disposition(e) !== 'retry') throw thrown;
    throw new ExitError(EXIT_UNAVAILABLE, `${e.message}: still failing after the connector's retries; run the same command again to resume (the windows read are checkpointed)`);
  }
}

export function parseVendor(value: string | undefined): PullVendor {
  if (value === undefined) throw new UsageError('missing vendor (tencent-ccc or tencent-trtc)');
  if (!(PULL_VENDORS as readonly string[]).includes(value)) throw new UsageError(`${quote(value)} is not a pull vendor; use tencent-ccc or tencent-trtc`);
  return value as PullVendor;
}

export interface CommonFlags {
  config?: string | undefined;
  rps?: string | undefined;
  topic?: string | undefined;
  'checkpoint-topic'?: string | undefined;
  endpoint?: string | undefined;
  protocol?: string | undefined;
  'connect-address'?: string | undefined;
  'base-url'?: string | undefined;
}

export const COMMON_FLAG_SPEC = {
  config: { type: 'string' },
  rps: { type: 'string' },
  topic: { type: 'string' },
  'checkpoint-topic': { type: 'string' },
  endpoint: { type: 'string' },
  protocol: { type: 'string' },
  'connect-address': { type: 'string' },
  'base-url': { type: 'string' },
} as const;

/** The flags as config paths inside `connectors.<vendor>`; each applies only to the vendor it names. */
function flagOverrides(vendor: PullVendor, flags: CommonFlags): [string[], unknown][] {
  const set: [string[], unknown][] = [];
  // `!== undefined`, not truthiness: `--rps=` is a mistake to report, not a flag to drop without a word.
  if (flags.rps !== undefined) set.push([['requestsPerSecond'], positiveNumber('--rps', flags.rps, 'a positive number')]);
  if (flags.topic !== undefined) set.push([['topics', 'raw'], flags.topic]);
  if (flags['checkpoint-topic'] !== undefined) set.push([['topics', 'checkpoints'], flags['checkpoint-topic']]);
  if (vendor === 'tencent-ccc') {
    if (flags.endpoint !== undefined) set.push([['endpoint'], flags.endpoint]);
    if (flags.protocol !== undefined) set.push([['protocol'], flags.protocol]);
    if (flags['connect-address'] !== undefined) set.push([['connectAddress'], flags['connect-address']]);
  } else if (flags['base-url'] !== undefined) set.push([['baseUrl'], flags['base-url']]);
  return set;
}

/** A pull vendor's section of the config (connectors.<vendor>), defaults applied. */
export type PullSection = NonNullable<AppConfig['connectors'][PullVendor]>;

/** The vendor's topics as configured without the flags (file and environment, else the defaults). */
export interface ConfiguredTopics {
  raw: string;
  checkpoints: string;
}

/** connectors.<vendor>.topics.<key> of a config document as given (before the flags and the defaults). */
function givenTopic(doc: Record<string, unknown>, vendor: PullVendor, key: 'raw' | 'checkpoints'): string | undefined {
  let cur: unknown = doc;
  for (const k of ['connectors', vendor, 'topics', key]) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  return typeof cur === 'string' ? cur : undefined;
}

/**
 * The vendor's connector from the shared config; a missing or invalid section exits 78 with every problem. `oneShot`
 * (backfill, `poll --once`: commands that end): Kafka is checked first, and one that does not answer ends it in a second with one
 * line, exit 69 (cli/kafka-access.ts), instead of the client's retries; the long-running poller keeps retrying.
 * `check` sees the vendor's section before anything is connected; what it throws ends the command there.
 */
export async function pullConnector(
  vendor: PullVendor,
  flags: CommonFlags,
  clientId: string,
  { oneShot = false, check }: { oneShot?: boolean; check?: (section: PullSection) => void } = {},
): Promise<{ connector: PullConnector; config: AppConfig; configured: ConfiguredTopics }> {
  let given: { raw?: string | undefined; checkpoints?: string | undefined } = {};
  const config = loadCommandConfig({
    file: flags.config,
    overrides: (doc) => {
      given = { raw: givenTopic(doc, vendor, 'raw'), checkpoints: givenTopic(doc, vendor, 'checkpoints') };
      for (const [path, value] of flagOverrides(vendor, flags)) setIn(doc, ['connectors', vendor, ...path], value);
    },
  });
  const configured = { raw: given.raw ?? defaultRawTopic(config, vendor), checkpoints: given.checkpoints ?? defaultCheckpointTopic(config) };
  const section = config.connectors[vendor];
  if (!section) {
    const env = vendor === 'tencent-ccc' ? 'TENCENT_CCC_SECRET_ID / TENCENT_CCC_SECRET_KEY / TENCENT_CCC_SDKAPPIDS' : 'TENCENT_TRTC_APPS';
    throw new UsageError(`no ${vendor} settings: give --config with a connectors.${vendor} section, or ${env}`);
  }
  // The command's own checks that need the vendor's settings (backfill: the range against settleSec), before Kafka.
  check?.(section);
  const ends = endpoints(config);
  const kafka = oneShot ? await oneShotKafka(config, clientId) : await commandKafka({ ...ends.kafka, clientId });
  const deps = { kafka, registry: createRegistry(ends.registryUrl) };
  return { connector: vendor === 'tencent-ccc' ? createCccConnector(section, deps) : createTrtcConnector(section, deps), config, configured };
}

/**
 * SIGINT/SIGTERM as stop requests (cli/signals.ts): the first aborts `signal` (stop intake, let the current write
 * finish; the connector then throws a PollStopped with what it read); a later, separate one exits at once.
 */
export function shutdownSignal(command: 'backfill' | 'poll') {
  const ac = new AbortController();
  const requests = stopRequests({
    onStop: () => ac.abort(new Error('shutdown requested')),
    onForce: (signal) => {
      process.stderr.write(`cdrflow ${command}: ${signal} again: exiting without waiting (the checkpoint keeps the windows Kafka acknowledged)\n`);
      process.exit(signalExit(signal));
    },
  });
  return {
    signal: ac.signal,
    /** The first stop request's signal, once there was one. */
    get received(): NodeJS.Signals | undefined {
      return requests.received;
    },
    dispose: () => requests.dispose(),
  };
}

/**
 * The topic flags of backfill and poll, before anything is read. An explicit --topic other than the configured raw
 * topic must exist (the connector would create it, and the records would go where nothing reads them) and may not be
 * another vendor's raw topic — the rule of `cdrflow import --topic` (connectors/file-import/target-topic.ts). An
 * explicit --checkpoint-topic other than the configured one must exist too (under a new name the connector would
 * start over without its checkpoints: a backfill reads every window again, the poller starts from its first lookback)
 * and may not be a topic of the pipeline that holds something else. Exit 64.
 */
export async function checkTopicFlags(vendor: PullVendor, flags: CommonFlags, config: AppConfig, configured: ConfiguredTopics, command: 'backfill' | 'poll'): Promise<void> {
  const raw = flags.topic !== undefined && flags.topic !== configured.raw ? flags.topic : undefined;
  const checkpoints = flags['checkpoint-topic'] !== undefined && flags['checkpoint-topic'] !== configured.checkpoints ? flags['checkpoint-topic'] : undefined;
  if (raw === undefined && checkpoints === undefined) return;
  const refused = (raw === undefined ? null : targetTopicProblem(config, vendor, raw, configured.raw)) ?? (checkpoints === undefined ? null : checkpointTopicProblem(config, checkpoints, configured.checkpoints));
  if (refused !== null) throw new ExitError(EXIT_USAGE, refused);
  const kafka = await commandKafka({ ...endpoints(config).kafka, clientId: `cdrflow-${command}-${vendor}` }, { oneShot: true });
  if (raw !== undefined) {
    const verdict = await checkTargetTopic(config, vendor, raw, configured.raw, (t) => topicExists(kafka, t));
    if (!verdict.ok) throw new ExitError(EXIT_USAGE, verdict.problem);
    if (verdict.note !== undefined) process.stderr.write(`cdrflow ${command}: ${terminalText(verdict.note)}\n`);
  }
  if (checkpoints !== undefined && !(await topicExists(kafka, checkpoints))) {
    throw new ExitError(EXIT_USAGE, `--checkpoint-topic ${quote(checkpoints)} does not exist; under a new name the connector would start over without its checkpoints; the configured checkpoint topic is ${configured.checkpoints} (leave --checkpoint-topic out to use it)`);
  }
}
