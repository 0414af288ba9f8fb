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
import { asCdrflowError, type CdrflowError } from '../../core/errors.ts';
import { superviseStage, type ComponentState, type StageHandle } from '../../core/supervise.ts';
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

/** Longest clean stop (finish the transaction / flush and commit, leave the group) before the process just exits. */
const STOP_DEADLINE_MS = 45_000;

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
    // The same recovery loop as `cdrflow start`: a rebalance or a broker outage restarts the stage from its committed
    // offsets (core/supervise.ts); only config, auth and bugs end the command.
    let failed!: (err: unknown) => void;
    const failure = new Promise<{ error: CdrflowError }>((resolve) => (failed = (err) => resolve({ error: asCdrflowError(err) })));
    const supervision = { setState: (_: string, state: ComponentState) => log(`${stage}.state`, { state }), fail: (_: string, err: unknown) => failed(err), log: (_level: string, event: string, fields?: Record<string, unknown>) => log(event, fields) };
    let launch: () => Promise<StageHandle>;
    let closeStage = async () => {};
    if (stage === 'normalize') {
      const input = { ...((file.normalize as object | undefined) ?? {}), ...(instance ? { instanceId: instance } : {}) };
      const config = parseSection(normalizeServiceConfigSchema, input, 'normalize');
      launch = () => startNormalizeService(config, { kafka, registry, log });
    } else {
      const config = parseSection(sinkConfigSchema, file.sink, 'sink');
      const clickhouse = await createClickHouse();
      launch = () => startClickHouseSink(config, { kafka, registry, clickhouse, log });
      closeStage = () => clickhouse.close();
    }
    let handle: { stop(): Promise<void> };
    try {
      handle = await superviseStage(stage, launch, supervision);
    } catch (err) {
      await closeStage();
      throw err;
    }
    const outcome = await Promise.race([untilSignal().then((signal) => ({ signal })), failure]);
    if ('error' in outcome) {
      await handle.stop().catch(() => undefined);
      await closeStage();
      log(`${stage}.stopped`, { kind: outcome.error.kind, error: outcome.error.message });
      console.error(`cdrflow run ${stage}: stopped by a ${outcome.error.kind} error: ${outcome.error.message}`);
      return 1;
    }
    if ('signal' in outcome) log(`${stage}.stopping`, { signal: outcome.signal });
    // A clean stop that hangs (a broker that never answers) still ends: exit 1 after the deadline.
    setTimeout(() => {
      console.error(`cdrflow run ${stage}: the clean stop did not end within ${STOP_DEADLINE_MS / 1000}s; exiting`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    await handle.stop();
    await closeStage();
    log(`${stage}.stopped`, {});
    return 0;
  },
};
