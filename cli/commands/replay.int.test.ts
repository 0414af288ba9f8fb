// `cdrflow replay` resets the normalize group the pipeline really uses: with a namespace, the namespaced group on
// the namespaced raw topics (it once reset the un-namespaced group, leaving the namespaced pipeline untouched).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ensureTopics } from '../../core/kafka.ts';
import { groupLag } from '../../core/kafka-streams.ts';
import { ALL_RAW_TOPICS, CONSUMER_GROUPS } from '../../core/topology.ts';
import { infraEnv } from '../../infra/test-infra.ts';
import { TEST_FETCH_WAIT_MS, testInfra, testKafka, uniqueName } from '../../test/helpers.ts';

/** Names Kafka can be asked about (the others are refused before it is). */
const groupIdOk = (group: string) => /^[A-Za-z0-9._-]{1,249}$/.test(group);

const CLI = fileURLToPath(new URL('../../bin/cdrflow.mjs', import.meta.url));

function replay(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'replay', ...args], { env: { ...process.env, ...infraEnv(testInfra()), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('cdrflow replay with a namespace', () => {
  it('resets the namespaced normalize group on the namespaced raw topics', async () => {
    const ns = uniqueName('ns').replace(/[^A-Za-z0-9_-]/g, '_');
    const group = `${ns}.${CONSUMER_GROUPS.normalize}`;
    const topics = ALL_RAW_TOPICS.map((t) => `${ns}.${t}`);
    const kafka = testKafka();
    await ensureTopics(kafka, topics.map((topic) => ({ topic, partitions: 1 })));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: topics[0]!, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    // The group has read everything (as a running normalize would have).
    await admin.setOffsets({ groupId: group, topic: topics[0]!, partitions: [{ partition: 0, offset: '3' }] });
    await admin.disconnect();
    expect((await groupLag(kafka, group, [topics[0]!]))[0]).toMatchObject({ committed: 3, lag: 0 });

    // The dry run says what the reset would do, the way the reset says what it did, and changes nothing.
    const dry = await replay(['--vendor', 'tencent-ccc', '--dry-run'], { CDRFLOW_NAMESPACE: ns });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`${topics[0]}[0]  committed 3 of 3`);
    expect(dry.stdout).toContain(`dry run: group ${group} would be reset to the start of ${topics[0]}: about 3 record(s) would be normalized again; nothing was changed`);
    expect((await groupLag(kafka, group, [topics[0]!]))[0]).toMatchObject({ committed: 3, lag: 0 });

    const run = await replay(['--vendor', 'tencent-ccc'], { CDRFLOW_NAMESPACE: ns });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`group ${group} reset to the start of ${topics[0]}`);
    expect((await groupLag(kafka, group, [topics[0]!]))[0]).toMatchObject({ committed: 0, lag: 3 });
  });

  it('refuses a --group that is not a group id, another stage\'s group, or one with nothing committed (a typo), exit 64, committing nothing', async () => {
    const ns = uniqueName('grp').replace(/[^A-Za-z0-9_-]/g, '_');
    const normalize = `${ns}.${CONSUMER_GROUPS.normalize}`;
    const other = `${ns}.normalize-v2`;
    const topics = ALL_RAW_TOPICS.map((t) => `${ns}.${t}`);
    const kafka = testKafka();
    await ensureTopics(kafka, topics.map((topic) => ({ topic, partitions: 1 })));
    const admin = kafka.admin();
    await admin.connect();
    const committed = async (groupId: string) => (await admin.fetchOffsets({ groupId, topics })).flatMap((t) => t.partitions).filter((p) => Number(p.offset) >= 0);
    try {
      // A group of one's own that did read the raw topics (a second normalize pipeline): still accepted.
      await admin.setOffsets({ groupId: other, topic: topics[0]!, partitions: [{ partition: 0, offset: '0' }] });
      const typo = `${ns}.cdrflow.normalise`;
      const refused: [string, RegExp][] = [
        [typo, new RegExp(`^cdrflow replay: consumer group ${typo} has no committed offsets on the raw topics \\(.*\\), nothing was reset: did you mean the configured normalize group ${normalize}\\?`)],
        [`${ns}.${CONSUMER_GROUPS.clickhouseSink}`, /is the consumer group of the ClickHouse sink, not of normalize/],
        [`${ns}.${CONSUMER_GROUPS.dlqLoader}`, /is the consumer group of the dead-letter loader, not of normalize/],
        ['weird group!', /^cdrflow replay: --group "weird group!" is not a consumer group id \(letters, digits, dot, underscore and dash only\)/],
        ['g'.repeat(300), /is not a consumer group id \(at most 249 characters\)/],
      ];
      for (const [group, message] of refused) {
        for (const dry of [[], ['--dry-run']]) {
          const run = await replay(['--group', group, '--vendor', 'alibaba-lvms', ...dry], { CDRFLOW_NAMESPACE: ns });
          expect(run.code, `${group}: ${run.stderr}`).toBe(64);
          expect(run.stdout).toBe('');
          expect(run.stderr).toMatch(message);
          // Each names the group replay is for.
          expect(run.stderr).toMatch(new RegExp(`configured normalize group (is )?${normalize.replaceAll('.', '\\.')}\\b`));
          expect(run.stderr.trim().split('\n')).toHaveLength(1);
        }
        if (groupIdOk(group)) expect(await committed(group), group).toEqual([]);
      }
      const ok = await replay(['--group', other, '--vendor', 'alibaba-lvms'], { CDRFLOW_NAMESPACE: ns });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`group ${other} reset to the start of ${ns}.cdr.raw.alibaba-lvms`);
      // The configured group is accepted with nothing committed yet (a pipeline that never ran normalize).
      const fresh = await replay(['--vendor', 'alibaba-lvms', '--dry-run'], { CDRFLOW_NAMESPACE: ns });
      expect(fresh.code, fresh.stderr).toBe(0);
    } finally {
      await admin.disconnect();
    }
  });

  it('refuses a group with live members before printing anything, and changes nothing (--dry-run alike)', async () => {
    const ns = uniqueName('live').replace(/[^A-Za-z0-9_-]/g, '_');
    const group = `${ns}.${CONSUMER_GROUPS.normalize}`;
    const topic = `${ns}.${ALL_RAW_TOPICS[0]!}`;
    const kafka = testKafka();
    await ensureTopics(kafka, [{ topic, partitions: 1 }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'a' }, { value: 'b' }] });
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '2' }] });
    await admin.disconnect();
    // A member of the group, as a running normalize is (`cdrflow start`'s own, or `cdrflow run normalize`).
    const member = kafka.consumer({ groupId: group, maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
    await member.connect();
    try {
      const joined = new Promise<void>((resolve) => member.on(member.events.GROUP_JOIN, () => resolve()));
      await member.subscribe({ topic });
      await member.run({ eachMessage: async () => {} });
      await joined;
      for (const args of [['--vendor', 'tencent-ccc'], ['--vendor', 'tencent-ccc', '--dry-run']]) {
        const run = await replay(args, { CDRFLOW_NAMESPACE: ns });
        expect(run.code, run.stderr).toBe(1);
        // Nothing that reads like the README's success output ("<topic>[0]  committed N of N").
        expect(run.stdout).toBe('');
        expect(run.stderr).toMatch(new RegExp(`^cdrflow replay: consumer group ${group} is Stable with 1 live member\\(s\\), (nothing was reset|replay would refuse to reset it): stop \`cdrflow start\``));
        expect(run.stderr.trim().split('\n')).toHaveLength(1);
      }
      expect((await groupLag(kafka, group, [topic]))[0]).toMatchObject({ committed: 2, lag: 0 });
    } finally {
      await member.disconnect();
    }
  });
});
