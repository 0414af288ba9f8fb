// `cdrflow run normalize|sink|dlq-loader`: runs one stream stage until SIGINT/SIGTERM (clean stop: no new batches, flush,
// commit) or until a systemic error stops it (exit 1, the error printed as a JSON log line and on stderr).
import { exitProcess } from '../../core/engine-exit.ts';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { untilSignal } from '../signals.ts';
import { createRegistry } from '../../core/avro.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { asCdrflowError, type CdrflowError } from '../../core/errors.ts';
import type { StreamHandle } from '../../core/kafka-streams.ts';
import { superviseStage, type ComponentState } from '../../app/supervise.ts';
import { StartCancelled } from '../../app/supervise.ts';
import { logger } from '../../core/log.ts';
import { terminalLines } from '../../core/input-limits.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig, setIn, settingExit } from '../app-config.ts';
import { commandKafka } from '../kafka-access.ts';
import { startNormalizeStage } from '../../app/normalize-workers.ts';
import { startClickHouseSink, startDlqLoader } from '../../sinks/clickhouse/index.ts';

const usage = `Usage: cdrflow run <normalize|sink|dlq-loader> [--config FILE] [--instance ID]

Runs one stream stage in the foreground (scale out by starting more processes: each stage is a consumer group).
  normalize  cdr.raw.* -> cdr.normalized + cdr.dlq, exactly once (Kafka transactions with the consumed offsets)
  sink       cdr.normalized -> ClickHouse <database>.cdr, idempotent inserts, offsets committed after ClickHouse acked
  dlq-loader cdr.dlq -> ClickHouse <database>.cdr_dead_letters, each dead letter once (the sink's delivery)

Options:
  --config FILE   the pipeline's YAML or JSON (the same file \`cdrflow start\` reads): this command reads its
                  "normalize", "sink" or "dlqLoader" section and where Kafka, the registry and ClickHouse are
  --instance ID   normalize: this process's stable instance id (transactional.id = <groupId>.<ID>); default hostname

Environment: the same table as \`start\` (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, CLICKHOUSE_URL or CLICKHOUSE_DATA_DIR,
CDRFLOW_PORT_BASE, CDRFLOW_NAMESPACE, ...; see "Configuration reference" in README.md). Logs are JSON lines on stdout.`;

/** Longest clean stop (finish the transaction / flush and commit, leave the group) before the process just exits. */
const STOP_DEADLINE_MS = 45_000;

export const command: Command = {
  name: 'run',
  summary: 'run one stream stage (normalize | sink | dlq-loader) in the foreground',
  usage,
  logTarget: () => 'stdout',
  async run(args) {
    const { values, positionals } = parseFlags(args, { config: { type: 'string' }, instance: { type: 'string', needs: 'an id (letters, digits, . _ -)' } }, { maxPositionals: 1 });
    const [stage] = positionals;
    const instance = values.instance;
    if (stage !== 'normalize' && stage !== 'sink' && stage !== 'dlq-loader') throw new UsageError('name the stage: normalize, sink or dlq-loader');
    // It was taken and ignored: only normalize members have an instance id (their transactional id).
    if (instance !== undefined && stage !== 'normalize') throw new UsageError(`--instance applies to normalize only (its transactional id); ${stage} has none`);
    const config = loadCommandConfig({ file: values.config, overrides: (doc) => instance && stage === 'normalize' && setIn(doc, ['normalize', 'instanceId'], instance) });
    const ends = endpoints(config);
    const log = logger(stage);
    // Its limited warnings are summed up when the command ends, however it ends (commandKafka).
    const kafka = await commandKafka({ ...ends.kafka, clientId: `cdrflow-${stage}` });
    const registry = createRegistry(ends.registryUrl);
    // The same recovery loop as `cdrflow start` (app/supervise.ts): a rebalance or a broker outage restarts the stage
    // from its committed offsets; only config, auth, schema errors and bugs end the command.
    let failed!: (err: unknown) => void;
    const failure = new Promise<{ error: CdrflowError }>((resolve) => (failed = (err) => resolve({ error: asCdrflowError(err) })));
    const supervision = { setState: (_: string, state: ComponentState) => log('info', `${stage}.state`, { state }), fail: (_: string, err: unknown) => failed(err), log };
    let launch: () => Promise<StreamHandle>;
    let closeStage = async () => {};
    if (stage === 'normalize') {
      launch = () => startNormalizeStage(config, { log });
    } else {
      // An engine another process holds (`cdrflow start`, a second `run sink`) is a setting this one cannot use: exit
      // 78 with the holder named, as for start and migrate (it was exit 1).
      const clickhouse = await createClickHouse(ends.clickhouse).catch((err: unknown) => {
        throw settingExit(err) ?? err;
      });
      launch = stage === 'sink' ? () => startClickHouseSink(config.sink, { kafka, registry, clickhouse, log }) : () => startDlqLoader(config.dlqLoader, config.sink, { kafka, registry, clickhouse, piiKey: config.normalize.mapping.piiKey, log });
      closeStage = () => clickhouse.close();
    }
    // Once the stage has ended with an error of its own, a close that fails too is only logged: the stage's error is
    // the one to print and exit with (a failing close replaced it, and a failing stop skipped the close).
    const closeAfterError = () => closeStage().catch((err: unknown) => log('warn', 'shutdown.step_failed', { step: 'clickhouse', error: String(err) }));
    // Listening before the stage starts: a stop request while it still starts (a group member waiting for its
    // partitions) waits for the start, then stops cleanly, instead of the signal's default action killing the process.
    // The deadline counts from the request either way.
    const signalled = untilSignal(`run ${stage}`);
    // A stop request while the first start is still retrying (Kafka down) ends the retries at once.
    const cancelStart = new AbortController();
    void signalled.then(() => {
      cancelStart.abort();
      setTimeout(() => {
        console.error(`cdrflow run ${stage}: the clean stop did not end within ${STOP_DEADLINE_MS / 1000}s; exiting`);
        exitProcess(1);
      }, STOP_DEADLINE_MS).unref();
    });
    let handle: { stop(): Promise<void> };
    try {
      handle = await superviseStage(stage, launch, { ...supervision, cancelStart: cancelStart.signal });
    } catch (err) {
      if (!(err instanceof StartCancelled)) {
        await closeAfterError();
        throw err;
      }
      await closeStage();
      log('info', `${stage}.stopped`, { during: 'start-up' });
      console.error(`cdrflow run ${stage}: ${terminalLines(err.message)}`);
      return 0;
    }
    const outcome = await Promise.race([signalled.then((signal) => ({ signal })), failure]);
    if ('error' in outcome) {
      await handle.stop().catch(() => undefined);
      await closeAfterError();
      log('error', `${stage}.stopped`, { kind: outcome.error.kind, error: outcome.error.message });
      // A broker's or a server's words, which may quote a record: printable, as main prints a thrown error.
      console.error(`cdrflow run ${stage}: stopped by a ${outcome.error.kind} error: ${terminalLines(outcome.error.message)}`);
      // A handle the stopped stage left open (a client still retrying) must not keep the process, and with it the
      // supervisor that would restart it, waiting: it stayed alive until a signal, then 45 s more.
      setTimeout(() => exitProcess(1), 5_000).unref();
      return 1;
    }
    // A clean stop that hangs (a broker that never answers) still ends: exit 1 after the deadline armed above.
    log('info', `${stage}.stopping`, { signal: outcome.signal });
    try {
      await handle.stop();
    } catch (err) {
      await closeAfterError();
      throw err;
    }
    await closeStage();
    log('info', `${stage}.stopped`);
    return 0;
  },
};
