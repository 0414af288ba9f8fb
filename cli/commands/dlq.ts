// `cdrflow dlq`: the dead-letter topic at a glance — how many records, per reason, stage and vendor, then the
// latest ones with the reason first (`cdrflow tail cdr.dlq` prints them all, with the original record decoded).
import type { Command } from '../command.ts';
import { integer, parseFlags } from '../args.ts';
import { loadCommandConfig } from '../app-config.ts';
import { oneShotKafka, rethrowUnreachable } from '../kafka-access.ts';
import { endpoints } from '../../app/config.ts';
import { terminalJson } from '../../core/input-limits.ts';

const usage = `Usage: cdrflow dlq [--latest N] [--json] [--config FILE]

Reads the whole dead-letter topic (default cdr.dlq) and prints the count per reason (the error kind), stage and
vendor, then the latest N dead letters: time, partition@offset, reason, stage, vendor, cdr_id, origin, message.
\`cdrflow tail cdr.dlq --format json\` shows each with the original record decoded.

Options:
  --latest N     how many of the newest to list (default 10)
  --json         print {"total","byReason":[…],"latest":[…]} instead
  --config FILE  the same file as \`cdrflow start\`

With Kafka not reachable (a short check first, about a second): one line naming it and what to do, exit 69.`;

export const command: Command = {
  name: 'dlq',
  summary: 'dead letters at a glance: counts per reason and vendor, then the latest ones',
  usage,
  async run(args) {
    const { values } = parseFlags(args, { latest: { type: 'string', needs: 'a number' }, json: { type: 'boolean' }, config: { type: 'string', needs: 'a file' } });
    const latest = values.latest === undefined ? 10 : integer('--latest', values.latest, { min: 1 });
    const config = loadCommandConfig({ file: values.config });
    const [{ DeadLetterTally, formatDlqSummary, isMissingTopic, readTopic, tailRecord }, { createRegistry }] = await Promise.all([import('../../app/tail.ts'), import('../../core/avro.ts')]);
    const ends = endpoints(config);
    const kafka = await oneShotKafka(config);
    const registry = createRegistry(ends.registryUrl);
    const topic = config.sink.deadLetterTopic;
    // Counted as read, only the latest kept: the topic need not fit in memory.
    const tally = new DeadLetterTally(latest);
    try {
      await readTopic(kafka, topic, {
        start: { from: 'beginning' },
        follow: false,
        onRecord: async (r) => tally.add(await tailRecord(registry, topic, r)),
      });
    } catch (err) {
      // No dead letter was ever written: the topic is created with the first one.
      if (!isMissingTopic(err)) await rethrowUnreachable(err, config);
    }
    const summary = tally.summary();
    console.log(values.json ? terminalJson(summary) : formatDlqSummary(topic, summary));
    return 0;
  },
};
