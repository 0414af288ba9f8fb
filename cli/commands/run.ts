// `cdrflow run normalize|sink`: runs one stream stage until SIGINT/SIGTERM (clean stop: no new batches, flush,
// commit) or until a systemic error stops it (exit 1, the error printed as a JSON log line and on stderr).
import { hostname } from 'node:os';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { untilSignal } from '../signals.ts';
import { createRegistry } from '../../core/avro.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { asCdrflowError } from '../../core/errors.ts';
import { createKafka } from '../../core/kafka.ts';
import { logger } from '../../core/log.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig, setIn } from '../app-config.ts';
import { startNormalizeService } from '../../transforms/normalize/service/index.ts';
import { startClickHouseSink } from '../../sinks/clickhouse/index.ts';

const usage = `Usage: cdrflow run <normalize|sink> [--config FILE] [--instance ID]

Runs one stream stage in the foreground (scale out by starting more processes: each stage is a consumer group).
  normalize  cdr.raw.* -> cdr.normalized + cdr.dlq, exactly once (Kafka transactions with the consumed offsets)
  sink       cdr.normalized -> ClickHouse <database>.cdr, idempotent inserts, offsets committed after ClickHouse acked

Options:
  --config FILE   the pipeline's YAML or JSON (the same file as \`cdrflow start --config\`): this command reads its
                  "normalize" or "sink" section and where Kafka, the registry and ClickHouse are
  --instance ID   normalize: this process's stable instance id (transactional.id = <groupId>.<ID>); default hostname

Environment: the same table as \`start\` (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, CLICKHOUSE_URL or CLICKHOUSE_DATA_DIR,
CDRFLOW_PORT_BASE, CDRFLOW_NAMESPACE, ...; see "Configuration reference" in README.md). Logs are JSON lines on stdout.`;

export const command: Command = {
  name: 'run',
  summary: 'run one stream stage (normalize | sink) in the foreground',
  usage,
  logTarget: () => 'stdout',
  async run(args) {
    const { values, positionals } = parseFlags(args, { config: { type: 'string' }, instance: { type: 'string' } }, { maxPositionals: 1 });
    const [stage] = positionals;
    const instance = values.instance;
    if (stage !== 'normalize' && stage !== 'sink') throw new UsageError('name the stage: normalize or sink');
    const config = loadCommandConfig({ file: values.config, overrides: (doc) => instance && stage === 'normalize' && setIn(doc, ['normalize', 'instanceId'], instance) });
    const ends = endpoints(config);
    const log = logger(stage);
    const kafka = createKafka({ ...ends.kafka, clientId: `cdrflow-${stage}` });
    const registry = createRegistry(ends.registryUrl);
    let handle: { done: Promise<void>; stop(): Promise<void> };
    if (stage === 'normalize') {
      handle = await startNormalizeService({ ...config.normalize, instanceId: config.normalize.instanceId || hostname() }, { kafka, registry, log });
    } else {
      const clickhouse = await createClickHouse(ends.clickhouse);
      const sink = await startClickHouseSink(config.sink, { kafka, registry, clickhouse, log });
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
      log('error', `${stage}.stopped`, { kind: outcome.error.kind, error: outcome.error.message });
      console.error(`cdrflow run ${stage}: stopped by a ${outcome.error.kind} error: ${outcome.error.message}`);
      return 1;
    }
    if ('signal' in outcome) log('info', `${stage}.stopping`, { signal: outcome.signal });
    await handle.stop();
    log('info', `${stage}.stopped`);
    return 0;
  },
};
