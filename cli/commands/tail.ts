// `cdrflow tail <topic>`: prints a cdrflow topic's records decoded through the schema registry, like `kcat -C` or
// `rpk topic consume` but knowing cdrflow's schemas: raw envelopes with the vendor payload parsed, normalized CDRs,
// dead letters with the reason first and the record they carry decoded.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { integer, parseFlags } from '../args.ts';
import { didYouMean } from '../../core/did-you-mean.ts';
import { loadCommandConfig } from '../app-config.ts';
import { oneShotKafka, rethrowUnreachable } from '../kafka-access.ts';
import { endpoints } from '../../app/config.ts';
import { quote, terminalJson } from '../../core/input-limits.ts';
import { signalExit } from '../../core/exit-codes.ts';
import { stopRequests } from '../signals.ts';

const usage = `Usage: cdrflow tail <topic> [--from-beginning | --last N] [--follow] [--format json|table] [--config FILE]

Prints the records of a cdrflow topic, decoded through the schema registry (read_committed: what a consumer sees).
  raw topics (cdr.raw.<vendor>)  the envelope, its vendor payload parsed
  cdr.normalized                 the normalized CDR
  cdr.dlq                        reason, stage, vendor, cdr_id, origin, then the original record decoded
  cdrflow.checkpoints            the JSON checkpoints

Options:
  --last N          the N newest records (default 10), in time order across partitions
  --from-beginning  every record the topic still holds
  --follow, -f      then keep printing new records as they arrive, until Ctrl-C
  --format F        table (one line per record; default on a terminal) or json (one object per line; default otherwise)
  --config FILE     the same file as \`cdrflow start\` (Kafka, registry, namespace)

Topics of the configuration: run \`cdrflow tail --list\`. With Kafka not reachable (a short check first, about a
second): one line naming it and what to do, exit 69. Ctrl-C (SIGINT) or SIGTERM ends the read (exit 0); a second one
exits at once, 130 / 143.`;

export const command: Command = {
  name: 'tail',
  summary: 'print a topic\'s records decoded through the schema registry (raw, normalized, dead letters)',
  usage,
  async run(args) {
    const { values, positionals } = parseFlags(
      args,
      {
        'from-beginning': { type: 'boolean' },
        last: { type: 'string', needs: 'a number of records' },
        follow: { type: 'boolean', short: 'f' },
        format: { type: 'string', needs: 'json or table' },
        list: { type: 'boolean' },
        config: { type: 'string', needs: 'a file' },
      },
      { maxPositionals: 1 },
    );
    const config = loadCommandConfig({ file: values.config });
    const { cdrflowTopics, isMissingTopic, readTopic, tableLine, tailRecord } = await import('../../app/tail.ts');
    type ReadSummary = Awaited<ReturnType<typeof readTopic>>;
    const known = cdrflowTopics(config);
    if (values.list) {
      for (const t of known) console.log(`${t.topic.padEnd(40)}${t.role}`);
      return 0;
    }
    const [topic] = positionals;
    if (topic === undefined) throw new UsageError('missing topic (cdrflow tail --list shows them)');
    // Kafka's own topics hold its binary bookkeeping, which a first byte of 0 made look like registry-framed Avro:
    // `tail __consumer_offsets` printed "Schema 67108864 not found" for every record (an operator walk).
    if (topic.startsWith('__'))
      throw new UsageError(`${quote(topic)} is one of Kafka's internal topics, in Kafka's own binary format, not a cdrflow topic; cdrflow tail --list shows the pipeline's topics, and \`cdrflow status\` the consumer groups' lag`);
    if (values['from-beginning'] && values.last !== undefined) throw new UsageError('--from-beginning and --last exclude each other');
    const format = values.format ?? (process.stdout.isTTY ? 'table' : 'json');
    if (format !== 'json' && format !== 'table') throw new UsageError(`--format needs json or table, got ${quote(format)}`);
    const last = values.last === undefined ? 10 : integer('--last', values.last, { min: 1 });

    const { createRegistry } = await import('../../core/avro.ts');
    const ends = endpoints(config);
    const kafka = await oneShotKafka(config);
    const registry = createRegistry(ends.registryUrl);
    const abort = new AbortController();
    // Ctrl-C or SIGTERM ends the read; a second, separate one exits at once, while Kafka is still slow to let go.
    const requests = stopRequests({
      onStop: () => abort.abort(),
      onForce: (signal) => {
        process.stderr.write(`cdrflow tail: ${signal} again: exiting without waiting for the read to end\n`);
        process.exit(signalExit(signal));
      },
    });
    // The records the topic held when the read began are printed in time order across partitions: all of them with
    // --from-beginning, else the newest N overall. With --follow, records that arrive later are printed as they come.
    type Printed = Awaited<ReturnType<typeof toRecord>>;
    const toRecord = (r: Parameters<typeof tailRecord>[2]) => tailRecord(registry, topic!, r);
    const print = (rec: Printed) => console.log(format === 'json' ? terminalJson(rec) : tableLine(rec));
    const byTime = (a: Printed, b: Printed) => a.timestamp.localeCompare(b.timestamp) || a.partition - b.partition || a.offset - b.offset;
    try {
      // The newest N records of a partition can lie further back than its last N offsets: on the transactional
      // topics (cdr.normalized, cdr.dlq) every transaction ends in a commit marker, and aborted records are skipped.
      // Read back twice as far, then four times further each pass, until each partition gave N or has no more.
      let window = values['from-beginning'] ? 0 : 2 * last + 2;
      let backlog: Printed[];
      let read: ReadSummary;
      for (;;) {
        const pass: Printed[] = [];
        read = await readTopic(kafka, topic, {
          start: values['from-beginning'] ? { from: 'beginning' } : { last: window },
          follow: false,
          signal: abort.signal,
          onRecord: async (r) => void pass.push(await toRecord(r)),
        });
        backlog = pass;
        if (values['from-beginning'] || abort.signal.aborted || read.every((p) => p.records >= last || p.start <= p.low)) break;
        window *= 4;
      }
      backlog.sort(byTime);
      for (const rec of values['from-beginning'] ? backlog : backlog.slice(-last)) print(rec);
      if (values.follow && !abort.signal.aborted) {
        // From where the backlog ended: nothing that arrived meanwhile is missed or printed twice.
        await readTopic(kafka, topic, {
          start: { at: new Map(read.map((p) => [p.partition, p.end])) },
          follow: true,
          signal: abort.signal,
          onRecord: async (r) => print(await toRecord(r)),
        });
      }
    } catch (err) {
      if (isMissingTopic(err)) {
        // A topic of the configuration the pipeline has not created yet is not a typo: no other name is suggested.
        if (known.some((t) => t.topic === topic)) throw new UsageError(`topic ${quote(topic)} does not exist yet: the pipeline creates it when it starts (cdrflow start)`);
        const guess = didYouMean(topic, known.map((t) => t.topic));
        throw new UsageError(`topic ${quote(topic)} does not exist${guess ? ` (did you mean ${guess}?)` : ''}; cdrflow tail --list shows the configured topics`);
      }
      return rethrowUnreachable(err, config);
    } finally {
      requests.dispose();
    }
    return 0;
  },
};
