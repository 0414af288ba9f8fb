// `cdrflow status [--json]`: the status line's figures in full, plus connector checkpoints and their age. From the
// running `cdrflow start` (its /status) when there is one; otherwise computed from Kafka and ClickHouse directly.
import type { Command } from '../command.ts';
import { parseFlags } from '../args.ts';
import { loadCommandConfig } from '../app-config.ts';
import { commandKafka, kafkaUnavailableExit } from '../kafka-access.ts';
import { checkpointTopicOf, describeTarget, endpoints, pollSourcesOf, type AppConfig } from '../../app/config.ts';
import { findRunningJob, opsStatus } from '../../app/ops-client.ts';
import { checkpointRows, clickhouseFigures, componentsText, formatStatus, totals, type CheckpointRow, type StatusSnapshot } from '../../app/status.ts';
import type { KafkaUnreachableError } from '../../core/kafka.ts';
import { stageLag } from '../../core/kafka-streams.ts';
import { terminalJson, terminalLines } from '../../core/input-limits.ts';

const usage = `Usage: cdrflow status [--json] [--config FILE]

Per stage: records in / out / dead-lettered (known to the running job only) and consumer lag; ClickHouse: distinct
CDRs and billable minutes per vendor (cdr FINAL); connector checkpoints with their watermark and age.
From the running \`cdrflow start\` when its ops port answers, otherwise computed directly from Kafka and ClickHouse.
When Kafka cannot be reached (a short check, about a second), what ClickHouse holds is still printed, Kafka's figures
show as unknown, and the command ends with one line naming the address and what to do, exit 69.

Options:
  --json         print the JSON snapshot (the same document as GET /status)
  --config FILE  the same file as \`cdrflow start\``;

/** Status without a running job: everything Kafka and ClickHouse know by themselves. */
export async function computeStatusDirectly(config: AppConfig): Promise<{ snapshot: StatusSnapshot; kafkaUnreachable?: KafkaUnreachableError }> {
  // Loaded only here: while a job runs, `status` asks it and needs neither the engine nor Kafka's client.
  const [{ CheckpointStore, polledLiveIds }, { createClickHouse }, { ensureKafkaReachable, kafkaUnreachable, KafkaUnreachableError }] = await Promise.all([
    import('../../core/checkpoints.ts'),
    import('../../core/clickhouse.ts'),
    import('../../core/kafka.ts'),
  ]);
  const settings = endpoints(config).kafka;
  const target = endpoints(config).clickhouse;
  const readClickHouse = async () => {
    const client = await createClickHouse(target);
    try {
      return totals(await clickhouseFigures(client, config.sink.database, config.sink.table));
    } finally {
      await client.close();
    }
  };
  // ClickHouse is read whatever Kafka does; Kafka's figures only once a broker answered a short check, so a Kafka
  // that is not there costs about a second, not every read's own retries (16 s), and is said as such.
  const [ch, refused] = await Promise.all([
    readClickHouse().catch((err: unknown) => ({ error: (err as Error).message })),
    ensureKafkaReachable(settings).then(() => undefined, (err: unknown) => err as Error),
  ]);
  // Set once Kafka could not be read at all (the check failed, or a broker went away during the reads): from then on
  // its figures are unknown (–, "could not be read"), never zero or "none".
  let failure: Error | undefined = refused;
  const noteUnreachable = (err: unknown) => void (failure ??= kafkaUnreachable(err, settings.brokers));
  const kafka = await commandKafka(settings, { oneShot: true });
  const lag = async (group: string, topics: string[]) => {
    if (failure) return null;
    return stageLag(kafka, group, topics).catch((err: unknown) => {
      noteUnreachable(err);
      return null;
    });
  };
  const checkpointTopic = checkpointTopicOf(config);
  const readCheckpoints = async (): Promise<{ rows: CheckpointRow[]; error?: string }> => {
    if (failure) return { rows: [], error: failure.message };
    const store = new CheckpointStore(kafka, checkpointTopic);
    try {
      // Read only: status reports, it does not create the checkpoint topic of a pipeline that never ran.
      await store.load({ readOnly: true });
      return { rows: checkpointRows(store.entries(), Date.now()) };
    } catch (err) {
      noteUnreachable(err);
      return { rows: [], error: (failure ?? (err as Error)).message };
    } finally {
      await store.close();
    }
  };
  const [normalizeLag, sinkLag, loaderLag, checkpoints] = await Promise.all([
    lag(config.normalize.groupId, config.normalize.inputTopics),
    lag(config.sink.groupId, [config.sink.inputTopic]),
    config.dlqLoader.enabled ? lag(config.dlqLoader.groupId, [config.dlqLoader.inputTopic]) : null,
    readCheckpoints(),
  ]);
  const polled = pollSourcesOf(config);
  const snapshot: StatusSnapshot = {
    at: new Date().toISOString(),
    source: 'computed directly',
    pid: null,
    uptimeSec: null,
    demo: false,
    clickhouseTarget: describeTarget(target),
    components: {},
    intake: {},
    normalize: { in: null, out: null, deadLettered: null, lag: normalizeLag },
    sink: { in: null, out: null, deadLettered: null, lag: sinkLag },
    ...(config.dlqLoader.enabled ? { dlqLoader: { in: null, out: null, deadLettered: null, skipped: null, alreadyStored: null, lag: loaderLag } } : {}),
    clickhouse: ch,
    checkpoints: checkpoints.rows,
    // What the job would poll with this configuration: a removed tenant's live checkpoint reads as with the job. A
    // configuration without a pull connector (a --config left out) says nothing about what the job polls: then no
    // live checkpoint is marked, rather than every one.
    ...(polled.length > 0 ? { polledCheckpoints: polledLiveIds(polled) } : {}),
    ...(checkpoints.error !== undefined ? { checkpointsError: checkpoints.error } : {}),
  };
  return failure instanceof KafkaUnreachableError ? { snapshot, kafkaUnreachable: failure } : { snapshot };
}

export const command: Command = {
  name: 'status',
  summary: 'show records in/out, lag, DLQ, CDRs and billable minutes in ClickHouse, checkpoints and their age',
  usage,
  async run(args) {
    const { values } = parseFlags(args, { json: { type: 'boolean' }, config: { type: 'string', needs: 'a file' } });
    const json = values.json ?? false;
    const config = loadCommandConfig({ file: values.config });
    const running = await findRunningJob(endpoints(config).opsPort);
    const { snapshot, kafkaUnreachable } = running ? { snapshot: await opsStatus(running), kafkaUnreachable: undefined } : await computeStatusDirectly(config);
    // The snapshot's strings (states, checkpoint ids, errors) come from whatever holds the ops port: shown with their
    // control characters as escapes, line by line, or an ESC[2J in one of them cleared the screen. JSON.stringify escapes
    // only those below U+0020, so --json writes DEL, C1 and format characters (bidi overrides) as escapes too.
    if ('starting' in snapshot) {
      // The job answers on its ops port before every component runs.
      const starting = snapshot as unknown as { components: Record<string, string> };
      // A state may be an error's words, and a name anything: one line, cut, as formatStatus shows them.
      console.log(json ? terminalJson(snapshot, 2) : terminalLines(`cdrflow start is starting: ${componentsText(starting.components) || 'servers and ClickHouse'}`));
      return 0;
    }
    console.log(json ? terminalJson(snapshot, 2) : terminalLines(formatStatus(snapshot)));
    // What could be read is printed above; that Kafka could not be, and what to do, is the one line this ends with.
    if (kafkaUnreachable) throw kafkaUnavailableExit(kafkaUnreachable, config);
    return 0;
  },
};
