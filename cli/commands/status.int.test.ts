// `cdrflow status` against a Kafka where the namespace's topics do not exist yet (a fresh namespace before the
// first `start`): it reports, creates nothing, and exits by itself. kafkajs's fetchOffsets over several unknown topics used to leave a
// socket open behind the admin's disconnect, and the command hung after its report (2 of 3 runs).
import { describe, expect, it } from 'vitest';
import { ensureTopics, topicExists } from '../../core/kafka.ts';
import { TOPICS } from '../../core/topology.ts';
import { groupLag } from '../../core/kafka-streams.ts';
import { infraEnv } from '../../infra/test-infra.ts';
import { testInfra, testKafka, uniqueName } from '../../test/helpers.ts';
import { cdrflow } from '../../test/main-job/cli.ts';

const EXIT_WITHIN_MS = 30_000;

/** `cdrflow status` on the test stack; a child still running after EXIT_WITHIN_MS is killed and fails the test. */
const status = (env: Record<string, string>) => cdrflow(['status'], { ...process.env, ...infraEnv(testInfra()), ...env }, EXIT_WITHIN_MS);

describe('cdrflow status on a namespace with no topics yet', { timeout: 4 * EXIT_WITHIN_MS }, () => {
  it('reports the stages with no lag and exits by itself, every time', async () => {
    for (let run = 0; run < 3; run++) {
      const ns = uniqueName(`fresh${run}`).replace(/[^A-Za-z0-9_-]/g, '_');
      const result = await status({ CDRFLOW_NAMESPACE: ns, CDRFLOW_OPS_PORT: '1' });
      expect(result.code, `run ${run}: exit code; stderr: ${result.stderr.slice(0, 500)}`).toBe(0);
      expect(result.stdout).toMatch(/normalize\s+–\s+–\s+–\s+0\n/);
      expect(result.stdout).toContain('checkpoints: none');
      // A read: the namespace's checkpoint topic is not created by asking for its status.
      expect(await topicExists(testKafka(), `${ns}.${TOPICS.checkpoints}`)).toBe(false);
    }
  });

  it('groupLag reads the topics that exist and passes over the ones that do not', async () => {
    const ns = uniqueName('lag').replace(/[^A-Za-z0-9_-]/g, '_');
    const kafka = testKafka();
    const present = `${ns}.present`;
    await ensureTopics(kafka, [{ topic: present, partitions: 1 }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: present, messages: [{ value: 'a' }, { value: 'b' }] });
    await producer.disconnect();
    const lag = await groupLag(kafka, `${ns}.group`, [`${ns}.missing-1`, present, `${ns}.missing-2`, `${ns}.missing-3`]);
    expect(lag).toEqual([{ topic: present, partition: 0, start: 0, committed: 0, end: 2, lag: 2 }]);
  });
});
