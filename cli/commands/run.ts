// `cdrflow run normalize|sink`: runs one stream stage until SIGINT/SIGTERM (clean stop: no new batches, flush,
// commit) or until a systemic error stops it (exit 1, the error printed as a JSON log line and on stderr).
import { readFileSync } from 'node:fs';
import { formatZodIssues } from '../../core/zod-issues.ts';
import YAML from 'yaml';
import { z } from 'zod';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { untilSignal } from '../signals.ts';
import { createRegistry } from '../../core/avro.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { asCdrflowError } from '../../core/errors.ts';
import { createKafka, kafkaSettingsFromEnv } from '../../core/kafka.ts';
import { normalizeServiceConfigSchema, startNormalizeService } from '../../transforms/normalize/service/index.ts';
import { sinkConfigSchema, startClickHouseSink } from '../../sinks/clickhouse/index.ts';

const usage = `Usage: cdrflow run <normalize|sink> [--config FILE] [--instance ID]

Runs one stream stage in the foreground (scale out by starting more processes: each stage is a consumer group).
  normalize  cdr.raw.* -> cdr.normalized + cdr.dlq, exactly once (Kafka transactions with the consumed offsets)
  sink       cdr.normalized -> ClickHouse <database>.cdr, idempotent inserts, offsets committed after ClickHouse acked

Options:
  --config FILE   JSON or YAML with a "normalize" and/or "sink" section (every key optional, unknown keys refused):
                  normalize: groupId, inputTopics, outputTopic, deadLetterTopic, instanceId, maxMessagesPerTransaction,
                             mapping{billing, lvmsTimeZone, piiKey}
                  sink:      groupId, inputTopic, deadLetterTopic, database, table, flushRows, flushMs, insertFormat,
                             maxInsertAttempts, migrate
  --instance ID   normalize: this process's stable instance id (transactional.id = <groupId>.<ID>); default hostname

Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, CLICKHOUSE_URL or CLICKHOUSE_DATA_DIR (embedded engine),
CDRFLOW_PORT_BASE. Logs are JSON lines on stdout.`;

const fileSchema = z.strictObject({ normalize: z.unknown().optional(), sink: z.unknown().optional() });

export function loadStageConfigFile(path: string | undefined): { normalize?: unknown; sink?: unknown } {
  if (path === undefined) return {};
  const text = readFileSync(path, 'utf8');
  const parsed = fileSchema.safeParse(path.endsWith('.json') ? JSON.parse(text) : YAML.parse(text));
  if (!parsed.success) throw new UsageError(`${path}:\n${formatZodIssues(parsed.error)}`);
  return parsed.data;
}

export function jsonLog(component: string) {
  return (event: string, fields: Record<string, unknown> = {}) => {
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), component, event, ...fields }) + '\n');
  };
}

function parseSection<T extends z.ZodType>(schema: T, input: unknown, section: string): z.output<T> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) throw new UsageError(`invalid ${section} configuration:\n${formatZodIssues(result.error)}`);
  return result.data;
}

export const command: Command = {
  name: 'run',
  summary: 'run one stream stage (normalize | sink) in the foreground',
  usage,
  async run(args) {
    const { values, positionals } = parseFlags(args, { config: { type: 'string' }, instance: { type: 'string' } }, { maxPositionals: 1 });
    const [stage] = positionals;
    const instance = values.instance;
    if (stage !== 'normalize' && stage !== 'sink') throw new UsageError('name the stage: normalize or sink');
    const file = loadStageConfigFile(values.config);
    const log = jsonLog(stage);
    const kafka = createKafka(kafkaSettingsFromEnv(`cdrflow-${stage}`));
    const registry = createRegistry();
    let handle: { done: Promise<void>; stop(): Promise<void> };
    if (stage === 'normalize') {
      const input = { ...((file.normalize as object | undefined) ?? {}), ...(instance ? { instanceId: instance } : {}) };
      const config = parseSection(normalizeServiceConfigSchema, input, 'normalize');
      handle = await startNormalizeService(config, { kafka, registry, log });
    } else {
      const config = parseSection(sinkConfigSchema, file.sink, 'sink');
      const clickhouse = await createClickHouse();
      const sink = await startClickHouseSink(config, { kafka, registry, clickhouse, log });
      handle = {
        done: sink.done.finally(() => clickhouse.close()),
        stop: async () => {
          await sink.stop();
          await clickhouse.close();
        },
      };
    }
    const outcome = await Promise.race([
      untilSignal().then((signal) => ({ signal })),
      handle.done.then(
        () => ({ ended: true }),
        (err: unknown) => ({ error: asCdrflowError(err) }),
      ),
    ]);
    if ('error' in outcome) {
      log(`${stage}.stopped`, { kind: outcome.error.kind, error: outcome.error.message });
      console.error(`cdrflow run ${stage}: stopped by a ${outcome.error.kind} error: ${outcome.error.message}`);
      return 1;
    }
    if ('signal' in outcome) log(`${stage}.stopping`, { signal: outcome.signal });
    await handle.stop();
    log(`${stage}.stopped`, {});
    return 0;
  },
};
