// Which topic a one-shot publisher of raw records (`cdrflow import`, `cdrflow backfill`) may write to when the user
// names one with --topic. The default — the vendor's configured raw topic, which the pipeline reads — is created when
// missing, as at the receivers and pollers. Any other name must already exist and is never created: a typo
// (`--topic cdr.raw.huawei`) used to create that topic and its registry subject and publish every record there, where
// nothing reads it, with exit 0. A topic the pipeline uses for another vendor's raw records, or for something else
// than raw records, is refused outright: a Huawei record on the LVMS topic is normalized, but reconcile looks for it
// under LVMS.
import { defaultCheckpointTopic, namespacedTopic as namespaced, sourceRawTopics, type AppConfig } from '../../app/config.ts';
import { TOPICS, VENDORS, type Vendor } from '../../core/topology.ts';
import { quote } from '../../core/input-limits.ts';

/** The vendor's raw topic by default (`<namespace>.cdr.raw.<vendor>`): where import publishes without --topic. */
export function defaultRawTopic(config: Pick<AppConfig, 'namespace'>, vendor: Vendor): string {
  return namespaced(config, TOPICS.raw(vendor));
}

/**
 * Where a vendor's raw records go as configured: the receiver's or the poller's own topic when the configuration names
 * one, else the default. `cdrflow import` publishes there without --topic, as the receiver would.
 */
export function configuredRawTopic(config: AppConfig, vendor: Vendor): string {
  return rawTopicsOf(config, vendor).at(-1)!;
}

/** Every topic the configuration names as a vendor's raw topic (its default, the receiver's or the poller's own). */
function rawTopicsOf(config: AppConfig, vendor: Vendor): string[] {
  return [defaultRawTopic(config, vendor), ...sourceRawTopics(config).filter((s) => s.vendor === vendor).map((s) => s.topic)];
}

/** The pipeline's topics that carry something other than raw vendor records, by what they carry. */
function otherRoles(config: AppConfig): Map<string, string> {
  const roles = new Map<string, string>();
  const add = (topic: string | undefined, role: string) => {
    if (topic !== undefined && !roles.has(topic)) roles.set(topic, role);
  };
  add(config.normalize.outputTopic, 'normalized');
  add(config.sink.inputTopic, 'normalized');
  add(config.normalize.deadLetterTopic, 'dead-letter');
  add(config.sink.deadLetterTopic, 'dead-letter');
  add(config.dlqLoader.inputTopic, 'dead-letter');
  add(namespaced(config, TOPICS.deadLetter), 'dead-letter');
  add(defaultCheckpointTopic(config), 'checkpoint');
  add(config.receiver?.huawei?.topics.events, 'Huawei call-event');
  add(namespaced(config, TOPICS.huaweiCallEvents), 'Huawei call-event');
  for (const vendor of ['tencent-ccc', 'tencent-trtc'] as const) {
    add(config.connectors[vendor]?.topics.checkpoints, 'checkpoint');
    add(config.connectors[vendor]?.topics.deadLetter, 'dead-letter');
  }
  return roles;
}

/**
 * The vendor (of `among`) whose raw topic `topic` is: one the configuration names, or one named like a raw topic
 * (`….raw.<vendor>`), which is how reconcile tells the vendors' topics apart (app/reconcile-service.ts).
 */
function rawVendorOf(config: AppConfig, topic: string, among: readonly Vendor[] = VENDORS): { vendor: Vendor; configured: boolean } | undefined {
  const configured = among.find((v) => rawTopicsOf(config, v).includes(topic));
  if (configured !== undefined) return { vendor: configured, configured: true };
  const named = among.find((v) => topic.endsWith(`raw.${v}`));
  return named === undefined ? undefined : { vendor: named, configured: false };
}

/** "the pipeline reads <topic> for <vendor> (leave --topic out to publish there)": the end of every refusal. */
function whereItBelongs(vendor: Vendor, configured: string): string {
  return `the pipeline reads ${configured} for ${vendor} (leave --topic out to publish there)`;
}

/**
 * Why an explicit `--topic` is refused without asking Kafka (another vendor's raw topic, a topic of the pipeline that
 * holds no raw records), or null. `configured` is the vendor's configured raw topic, always allowed.
 */
export function targetTopicProblem(config: AppConfig, vendor: Vendor, topic: string, configured: string): string | null {
  if (topic === configured) return null;
  const other = rawVendorOf(config, topic, VENDORS.filter((v) => v !== vendor));
  if (other !== undefined) {
    const what = other.configured ? `is the raw topic of ${other.vendor}` : `is named as a raw topic of ${other.vendor}`;
    return `--topic ${quote(topic)} ${what}: ${vendor} records there would be normalized, but reconcile would not find them under ${vendor}; ${whereItBelongs(vendor, configured)}`;
  }
  const role = otherRoles(config).get(topic);
  if (role !== undefined) return `--topic ${quote(topic)} is the pipeline's ${role} topic, not a raw topic; ${whereItBelongs(vendor, configured)}`;
  return null;
}

/**
 * Why an explicit `--checkpoint-topic` (backfill, poll) is refused without asking Kafka, or null: a topic of the
 * pipeline that holds something else. The connector would read every record there as a checkpoint (passing over the
 * others, so it would start over), and what it writes there would reach the stages that read that topic.
 */
export function checkpointTopicProblem(config: AppConfig, topic: string, configured: string): string | null {
  if (topic === configured) return null;
  const raw = rawVendorOf(config, topic);
  const role = raw !== undefined ? `raw ${raw.vendor}` : otherRoles(config).get(topic);
  if (role === undefined || role === 'checkpoint') return null;
  return `--checkpoint-topic ${quote(topic)} is the pipeline's ${role} topic, not a checkpoint topic: the connector would read its records as checkpoints and write its checkpoints among them; the configured checkpoint topic is ${configured} (leave --checkpoint-topic out to use it)`;
}

export type TargetTopicVerdict = { ok: true; note?: string } | { ok: false; problem: string };

/**
 * The whole rule for an explicit `--topic` (see the file's head): refused (the caller exits 64 before anything is read
 * or published), or allowed with a note to print when the stages do not read that topic. `exists` asks Kafka.
 */
export async function checkTargetTopic(
  config: AppConfig,
  vendor: Vendor,
  topic: string,
  configured: string,
  exists: (topic: string) => Promise<boolean>,
): Promise<TargetTopicVerdict> {
  if (topic === configured) return { ok: true };
  const problem = targetTopicProblem(config, vendor, topic, configured);
  if (problem !== null) return { ok: false, problem };
  if (!(await exists(topic))) return { ok: false, problem: `--topic ${quote(topic)} does not exist; ${whereItBelongs(vendor, configured)}` };
  // A topic the normalize stage reads (a custom raw topic configured for it) needs no warning.
  if (config.normalize.inputTopics.includes(topic)) return { ok: true };
  return { ok: true, note: `note: the stages read ${configured} for ${vendor}; records published to ${quote(topic)} reach ClickHouse only if something reads that topic` };
}
