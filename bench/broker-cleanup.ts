// What a benchmark run leaves on the broker: its topics (the pipeline suite writes 100,000 records into each of
// several topics per round, over 100 MB a round) and its consumer groups, all named with the run's own prefix.
// They are removed when the run ends, measured or failed, so repeated runs do not fill the local stack's disk:
// before this, a day of benchmark runs left 45 GB in the bench stack's Kafka data directory.
import type { Kafka } from '../core/kafka.ts';

/** A run's prefix: `bench_` and a suffix of its own (the pipeline suite uses its start time), so no other name matches. */
const RUN_PREFIX = /^bench_[a-z0-9]{6,}$/;

export interface Removed {
  topics: string[];
  groups: string[];
  /** Groups the broker would not delete: a member is still connected. */
  groupsLeft: string[];
}

/**
 * Deletes the topics and consumer groups whose names start with `prefix` (a run's own, checked: anything else is
 * refused, so a typo cannot delete a stack's topics). Groups first: the broker refuses to delete a group that still
 * has members, and a member left behind by a failed run would make the call throw; such a group is skipped and named.
 */
export async function removeRunTopics(kafka: Kafka, prefix: string): Promise<Removed> {
  if (!RUN_PREFIX.test(prefix)) throw new Error(`refusing to delete topics by prefix "${prefix}": not a benchmark run's prefix (${RUN_PREFIX.source})`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ours = (name: string) => name === prefix || name.startsWith(`${prefix}.`) || name.startsWith(`${prefix}_`);
    const listGroups = async () => (await admin.listGroups()).groups.map((g) => g.groupId).filter(ours);
    const groups = await listGroups();
    let groupsLeft: string[] = [];
    if (groups.length > 0) {
      try {
        await admin.deleteGroups(groups);
      } catch {
        // One group the broker refuses (it still has members) fails the whole call, after the others went: try each
        // once more, then name what is left.
        for (const group of groups) await admin.deleteGroups([group]).catch(() => undefined);
        groupsLeft = await listGroups();
      }
    }
    const topics = (await admin.listTopics()).filter(ours);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    return { topics, groups: groups.filter((g) => !groupsLeft.includes(g)), groupsLeft };
  } finally {
    await admin.disconnect();
  }
}

/**
 * The end of a suite's run: removes its topics and groups and says so on stderr, or says why it could not. Never
 * throws: a run's figures (or its own failure) matter more than what it left on the broker.
 */
export async function cleanUpRun(kafka: Kafka, prefix: string, suite: string): Promise<void> {
  try {
    const removed = await removeRunTopics(kafka, prefix);
    const left = removed.groupsLeft.length > 0 ? `; still active, left: ${removed.groupsLeft.join(', ')}` : '';
    console.error(`${suite}: removed ${removed.topics.length} topics and ${removed.groups.length} consumer groups of this run (${prefix}*)${left}`);
  } catch (err) {
    console.error(`${suite}: could not remove the run's topics (${prefix}*): ${String(err)}`);
  }
}
