// `cdrflow import <vendor> --file records.jsonl`: the backfill of push vendors. Records go to cdr.raw.<vendor> with
// mode `import` (same path, same keys, same dedup as live pushes), with a progress bar and a summary.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { integer, parseFlags } from '../args.ts';
import { Progress } from '../../core/progress.ts';
import { ImportOptionsSchema, IMPORT_VENDORS } from '../../connectors/file-import/config.ts';
import { countLines, importFile } from '../../connectors/file-import/import.ts';
import { kafkaEnvelopeSink } from '../../connectors/receiver/kafka-sink.ts';
import { oneShotKafka, rethrowUnreachable } from '../kafka-access.ts';
import { createRegistry } from '../../core/avro.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig } from '../app-config.ts';
import { TOPICS } from '../../core/topology.ts';
import { formatZodIssues } from '../../core/zod-issues.ts';
import { MAX_LINE_BYTES } from '../../core/input-limits.ts';
import { isRegularFile } from '../../core/user-file.ts';

const usage = `Usage: cdrflow import <${IMPORT_VENDORS.join('|')}> --file <records.jsonl> [--tenant ID] [--topic T] [--batch N] [--config FILE]

One JSON value per line:
  huawei-privatenumber  a FeeInfo object, or a whole push body {"eventType":"fee","feeLst":[...]}
                        (tenant = the record's appKey, else --tenant)
  alibaba-lvms          an IvrCallRecordDto object, or that object as a JSON string (tenant = --tenant, required)

Records are published to cdr.raw.<vendor> (or --topic) with mode=import, keyed like live pushes, each batch
acknowledged by Kafka. Bad lines are reported with their line number and skipped: invalid UTF-8, a line over
${MAX_LINE_BYTES} bytes (never read into memory), JSON the receivers would refuse (nested deeper than 16 levels, a member
given twice), a record over 64 KiB or a key or appKey over 256 bytes.
Kafka and the registry: --config (the pipeline's file), KAFKA_BROKERS / SCHEMA_REGISTRY_URL, default the local stack.
Exit status: 0 all lines imported, 2 some lines skipped, 1 the run failed (the file, the registry), 69 Kafka not
reachable (checked first, about a second; the lines published before it went away stay published).`;

function parse(args: string[]) {
  const { values, positionals } = parseFlags(args, { file: { type: 'string' }, tenant: { type: 'string' }, topic: { type: 'string' }, batch: { type: 'string' }, config: { type: 'string' } }, { maxPositionals: 1 });
  const raw = { vendor: positionals[0], file: values.file, tenant: values.tenant, topic: values.topic, batchSize: values.batch === undefined ? undefined : integer('--batch', values.batch, { min: 1 }) };
  const parsed = ImportOptionsSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!parsed.success) throw new UsageError(`invalid options:\n${formatZodIssues(parsed.error, '  ')}`);
  return { options: parsed.data, config: values.config };
}

export const command: Command = {
  name: 'import',
  summary: 'load Huawei PrivateNumber / Alibaba LVMS records from a JSON-lines file into the raw topics',
  usage,
  async run(args) {
    const { options, config: file } = parse(args);
    const config = loadCommandConfig({ file });
    const ends = endpoints(config);
    const topic = options.topic ?? (config.namespace ? `${config.namespace}.${TOPICS.raw(options.vendor)}` : TOPICS.raw(options.vendor));
    // A pipe (`--file <(zcat calls.jsonl.gz)`) is read once, as it streams: no count up front, no total shown.
    const total = isRegularFile(options.file) ? await countLines(options.file) : undefined;
    const sink = await kafkaEnvelopeSink(await oneShotKafka(config, 'cdrflow-import'), createRegistry(ends.registryUrl), [topic]);
    const progress = new Progress({ label: `import ${options.vendor}`, total, unit: 'lines' });
    try {
      const summary = await importFile(options, {
        sink: sink.sink,
        onLine: () => progress.tick(),
        onBadLine: (bad) => process.stderr.write(`\n${options.file}:${bad.line}: skipped: ${bad.reason}\n`),
      });
      progress.finish({ lines: summary.lines, records: summary.records, skipped: summary.badLines, blank: summary.blankLines, topic: summary.topic, request_id: summary.requestId });
      return summary.badLines > 0 ? 2 : 0;
    } catch (err) {
      progress.finish({ failed_at_line: progress.count });
      return rethrowUnreachable(err, config);
    } finally {
      await sink.close();
    }
  },
};
