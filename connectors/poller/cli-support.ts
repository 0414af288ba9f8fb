// What `cdrflow poll` and `cdrflow backfill` share: building a pull connector's config from a file (JSON or YAML),
// environment variables for secrets, and flags; then the connector itself against the configured Kafka/registry.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../../cli/command.ts';
import { createKafka, kafkaSettingsFromEnv } from '../../core/kafka.ts';
import { createRegistry } from '../../core/avro.ts';
import { createCccConnector } from '../tencent-ccc/index.ts';
import { createTrtcConnector } from '../tencent-trtc/index.ts';
import type { PullConnector } from './runtime.ts';

export const PULL_VENDORS = ['tencent-ccc', 'tencent-trtc'] as const;
export type PullVendor = (typeof PULL_VENDORS)[number];

export const CONNECTION_FLAGS = `Connection (file < environment < flags):
  --config <file>          JSON or YAML with the connector's settings (see connectors/<vendor>/config.ts);
                           a file with a top-level "tencent-ccc:"/"tencent-trtc:" section is read from that section
  --rps <n>                requests per second for the whole connector (CCC default 20, TRTC 200)
  --topic <name>           raw topic (default cdr.raw.<vendor>)
  --checkpoint-topic <t>   checkpoint topic (default cdrflow.checkpoints)
  tencent-ccc:  TENCENT_CCC_SECRET_ID, TENCENT_CCC_SECRET_KEY, TENCENT_CCC_SDKAPPIDS=1400000001,1400000002,
                TENCENT_CCC_ENDPOINT=host[:port], --endpoint, --protocol http|https, --connect-address <ip>
  tencent-trtc: TENCENT_TRTC_APPS=<sdkAppId>:<secretKey>[:v4|:v1],..., TENCENT_TRTC_BASE_URL, TENCENT_TRTC_IDENTIFIER, --base-url
Kafka and the schema registry come from KAFKA_BROKERS / SCHEMA_REGISTRY_URL (default: the local stack).`;

export function parseVendor(value: string | undefined): PullVendor {
  if (value === undefined) throw new UsageError('missing vendor (tencent-ccc or tencent-trtc)');
  if (!(PULL_VENDORS as readonly string[]).includes(value)) throw new UsageError(`"${value}" is not a pull vendor; use tencent-ccc or tencent-trtc`);
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

function positiveNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${flag} needs a positive number, got "${value}"`);
  return n;
}

export function buildConfig(vendor: PullVendor, flags: CommonFlags, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  let config: Record<string, unknown> = {};
  if (flags.config) {
    const text = readFileSync(flags.config, 'utf8');
    const doc = (flags.config.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown> | null;
    if (!doc || typeof doc !== 'object') throw new UsageError(`${flags.config} does not hold an object`);
    config = (doc[vendor] as Record<string, unknown> | undefined) ?? doc;
  }
  if (vendor === 'tencent-ccc') {
    if (env['TENCENT_CCC_SECRET_ID']) config['secretId'] = env['TENCENT_CCC_SECRET_ID'];
    if (env['TENCENT_CCC_SECRET_KEY']) config['secretKey'] = env['TENCENT_CCC_SECRET_KEY'];
    if (env['TENCENT_CCC_SDKAPPIDS']) config['sdkAppIds'] = env['TENCENT_CCC_SDKAPPIDS'].split(',').map((s) => Number(s.trim()));
    if (env['TENCENT_CCC_ENDPOINT']) config['endpoint'] = env['TENCENT_CCC_ENDPOINT'];
    if (flags.endpoint) config['endpoint'] = flags.endpoint;
    if (flags.protocol) config['protocol'] = flags.protocol;
    if (flags['connect-address']) config['connectAddress'] = flags['connect-address'];
  } else {
    if (env['TENCENT_TRTC_APPS']) {
      config['apps'] = env['TENCENT_TRTC_APPS'].split(',').map((pair) => {
        const [id, key, api] = pair.split(':');
        return { sdkAppId: Number(id), secretKey: key ?? '', ...(api === undefined ? {} : { api }) };
      });
    }
    if (env['TENCENT_TRTC_BASE_URL']) config['baseUrl'] = env['TENCENT_TRTC_BASE_URL'];
    if (env['TENCENT_TRTC_IDENTIFIER']) config['identifier'] = env['TENCENT_TRTC_IDENTIFIER'];
    if (flags['base-url']) config['baseUrl'] = flags['base-url'];
  }
  if (flags.rps) config['requestsPerSecond'] = positiveNumber('--rps', flags.rps);
  if (flags.topic || flags['checkpoint-topic']) {
    const topics = { ...((config['topics'] as Record<string, unknown> | undefined) ?? {}) };
    if (flags.topic) topics['raw'] = flags.topic;
    if (flags['checkpoint-topic']) topics['checkpoints'] = flags['checkpoint-topic'];
    config['topics'] = topics;
  }
  return config;
}

export function connectorFor(vendor: PullVendor, config: Record<string, unknown>, clientId: string): PullConnector {
  const kafka = createKafka(kafkaSettingsFromEnv(clientId));
  const deps = { kafka, registry: createRegistry() };
  return vendor === 'tencent-ccc' ? createCccConnector(config, deps) : createTrtcConnector(config, deps);
}

/** Aborts on the first SIGINT/SIGTERM (stop intake, let the current write finish, exit). */
export function shutdownSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = () => ac.abort(new Error('shutdown requested'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac.signal;
}
