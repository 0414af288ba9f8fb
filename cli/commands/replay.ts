// `cdrflow replay`: re-runs the raw topics through the (new) mapping by moving the normalize group back to the
// start. Replayed rows reach ClickHouse through the same path as live data; ReplacingMergeTree keeps one row per
// cdr_id (the replayed one), so counts and minutes do not move unless the mapping changed them.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { createKafka, kafkaSettingsFromEnv } from '../../core/kafka.ts';
import { groupLag, resetGroupToEarliest } from '../../core/kafka-streams.ts';
import { ALL_RAW_TOPICS, CONSUMER_GROUPS, TOPICS, isVendor } from '../../core/topology.ts';

const usage = `Usage: cdrflow replay [--vendor V]... [--group ID] [--dry-run]

Resets the normalize consumer group to the beginning of the raw topics (all vendors, or the --vendor ones). Stop
every \`cdrflow run normalize\` first (a group with live members is refused), run this, then start normalize again:
it re-reads the raw records and re-publishes them through the current mapping, exactly once per record.

Options:
  --vendor V   only this vendor's raw topic (repeatable)
  --group ID   the normalize group (default ${CONSUMER_GROUPS.normalize})
  --dry-run    show the committed offsets that would be reset, change nothing`;

export const command: Command = {
  name: 'replay',
  summary: 'replay raw topics through the current mapping (reset the normalize group to the start)',
  usage,
  async run(args) {
    const { values } = parseFlags(args, { vendor: { type: 'string', multiple: true, needs: 'one of the vendors' }, group: { type: 'string' }, 'dry-run': { type: 'boolean' } });
    const vendors = values.vendor ?? [];
    for (const v of vendors) if (!isVendor(v)) throw new UsageError(`--vendor needs one of the vendors, got "${v}"`);
    if (values.group === '') throw new UsageError('--group needs a value');
    const group = values.group ?? CONSUMER_GROUPS.normalize;
    const dryRun = values['dry-run'] ?? false;
    const topics = vendors.length > 0 ? vendors.map((v) => TOPICS.raw(v as never)) : [...ALL_RAW_TOPICS];
    const kafka = createKafka(kafkaSettingsFromEnv('cdrflow-replay'));
    const before = await groupLag(kafka, group, topics);
    for (const p of before) console.log(`${p.topic}[${p.partition}]  committed ${p.committed} of ${p.end}`);
    if (dryRun) return 0;
    await resetGroupToEarliest(kafka, group, topics);
    const records = before.reduce((n, p) => n + p.committed, 0);
    console.log(`group ${group} reset to the start of ${topics.join(', ')}: about ${records} record(s) will be normalized again when normalize starts`);
    return 0;
  },
};
