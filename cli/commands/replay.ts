// `cdrflow replay`: re-runs the raw topics through the (new) mapping by moving the normalize group back to the
// start. Replayed rows reach ClickHouse through the same path as live data; ReplacingMergeTree keeps one row per
// cdr_id (the replayed one), so counts and minutes do not move unless the mapping changed them.
import type { Command } from '../command.ts';
import { ExitError, UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { groupHasCommitted, groupLag, groupState, resetGroupToEarliest } from '../../core/kafka-streams.ts';
import { EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_USAGE } from '../../core/exit-codes.ts';
import { groupIdSchema } from '../../transforms/normalize/service/config.ts';
import { rawTopicVendor, type AppConfig } from '../../app/config.ts';
import { VENDORS, isVendor } from '../../core/topology.ts';
import { loadCommandConfig } from '../app-config.ts';
import { oneShotKafka, rethrowUnreachable } from '../kafka-access.ts';
import { quote } from '../../core/input-limits.ts';

const usage = `Usage: cdrflow replay [--config FILE] [--vendor V]... [--group ID] [--dry-run]

Resets the normalize consumer group to the beginning of the raw topics (all vendors, or the --vendor ones). Stop
every \`cdrflow run normalize\` first (a group with live members is refused), run this, then start normalize again:
it re-reads the raw records and re-publishes them through the current mapping, exactly once per record.

Stop \`cdrflow start\` too: its normalize is a live member of the same group. While the group has live members,
replay (and --dry-run) says so and exits 1 before printing anything; with Kafka not reachable it exits 69.

Options:
  --config FILE  the pipeline's YAML or JSON (as for \`cdrflow start\`): the normalize group and raw topics come from
                 its "normalize" section, with the namespace applied (CDRFLOW_NAMESPACE works the same)
  --vendor V     only this vendor's raw topic (repeatable)
  --group ID     the normalize group (default: the config's normalize.groupId, cdrflow.normalize without one).
                 Refused (exit 64, nothing changed): a name that is not a group id (letters, digits, . _ - only, at
                 most 249), another stage's group (the sink's, the dead-letter loader's), and a group other than the
                 configured normalize group that has no committed offset on the raw topics (a typo: resetting it would
                 only create it; normalize under a new group reads from the start anyway). There is no flag to
                 override this.
  --dry-run      show the committed offsets that would be reset, change nothing

Exit status: 0 reset (or, --dry-run, shown); ${EXIT_USAGE} usage or a --group refused; ${EXIT_UNAVAILABLE} Kafka not reachable; ${EXIT_CONFIG} config;
1 the group has live members, or another error.`;

/**
 * Why `--group` cannot be the group replay resets, from its name alone (before Kafka is asked), or undefined: not a
 * group id, or the group of another stage, whose offsets on the raw topics would then mean nothing to anyone.
 */
function groupNameProblem(group: string, config: AppConfig): string | undefined {
  const normalize = config.normalize.groupId;
  const parsed = groupIdSchema.safeParse(group);
  if (!parsed.success) return `--group ${quote(group)} is not a consumer group id (${parsed.error.issues.map((i) => i.message).join('; ')}); the configured normalize group is ${normalize}`;
  if (group === normalize) return undefined;
  const stage = group === config.sink.groupId ? 'the ClickHouse sink' : group === config.dlqLoader.groupId ? 'the dead-letter loader' : undefined;
  if (stage !== undefined) return `--group ${group} is the consumer group of ${stage}, not of normalize: replay resets normalize's group on the raw topics; the configured normalize group is ${normalize} (leave --group out to use it)`;
  return undefined;
}

export const command: Command = {
  name: 'replay',
  summary: 'replay raw topics through the current mapping (reset the normalize group to the start)',
  usage,
  async run(args) {
    const { values } = parseFlags(args, { config: { type: 'string' }, vendor: { type: 'string', multiple: true, needs: 'one of the vendors' }, group: { type: 'string' }, 'dry-run': { type: 'boolean' } });
    const vendors = values.vendor ?? [];
    for (const v of vendors) if (!isVendor(v)) throw new UsageError(`--vendor needs one of ${VENDORS.join(', ')}, got ${quote(v)}`);
    const config = loadCommandConfig({ file: values.config });
    // The group and topics normalize really uses (namespace applied), so a namespaced pipeline replays its own group.
    const group = values.group ?? config.normalize.groupId;
    const nameProblem = groupNameProblem(group, config);
    if (nameProblem !== undefined) throw new ExitError(EXIT_USAGE, nameProblem);
    const dryRun = values['dry-run'] ?? false;
    const inputs = config.normalize.inputTopics;
    // A topic's vendor by the one rule reconcile and import use: a receiver's or poller's own topic (`hw_fees`) is its
    // source's, whatever its name; by the name's end alone, `--vendor huawei-privatenumber` found none there.
    const topics = vendors.length > 0 ? inputs.filter((t) => vendors.includes(rawTopicVendor(config, t) ?? '')) : inputs;
    if (topics.length === 0) throw new UsageError(`no input topic of normalize (${inputs.join(', ')}) belongs to ${vendors.join(', ')}`);
    const kafka = await oneShotKafka(config, 'cdrflow-replay');
    try {
      // A name that is no stage's (a typo: `cdrflow.normalise`) has nothing committed: resetting it would create it.
      if (group !== config.normalize.groupId && !(await groupHasCommitted(kafka, group, inputs))) {
        throw new ExitError(
          EXIT_USAGE,
          `consumer group ${group} has no committed offsets on the raw topics (${inputs.join(', ')}), nothing was reset: did you mean the configured normalize group ${config.normalize.groupId}? (leave --group out to use it)`,
        );
      }
      // Refused before anything is printed: the offsets below read like the result of a reset, and with live members
      // there is none (the dry run says the same: this is what replay would do now).
      const { state, members, live } = await groupState(kafka, group);
      if (live) {
        const what = dryRun ? 'replay would refuse to reset it' : 'nothing was reset';
        throw new ExitError(1, `consumer group ${group} is ${state} with ${members} live member(s), ${what}: stop \`cdrflow start\` (its normalize is a member) and every \`cdrflow run normalize\`, then run replay again`);
      }
      const before = await groupLag(kafka, group, topics);
      for (const p of before) console.log(`${p.topic}[${p.partition}]  committed ${p.committed} of ${p.end}, log start ${p.start}`);
      // What the reset makes normalize read again: from the log start up to the committed offset. Retention deleted
      // the records before the log start (a reset cannot bring them back), so counting from offset 0 overstated it.
      const records = before.reduce((n, p) => n + Math.max(0, p.committed - p.start), 0);
      if (dryRun) {
        console.log(`dry run: group ${group} would be reset to the start of ${topics.join(', ')}: about ${records} record(s) would be normalized again; nothing was changed`);
        return 0;
      }
      // Checks the group again: a member that joined since is refused all the same.
      await resetGroupToEarliest(kafka, group, topics);
      console.log(`group ${group} reset to the start of ${topics.join(', ')}: about ${records} record(s) will be normalized again when normalize starts`);
      return 0;
    } catch (err) {
      return rethrowUnreachable(err, config);
    }
  },
};
