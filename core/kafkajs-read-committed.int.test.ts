// read_committed on the real broker when two transactions on one partition abort in the opposite order to the one they
// began in — what two restarted normalize members do when each fences its dead predecessor's open transaction. kafkajs
// 2.2.4 alone passes the earlier transaction's records as committed; with core/kafkajs-read-committed.ts none pass.
import { expect, it } from 'vitest';
import { readTopic } from '../sinks/clickhouse/fixtures/pipeline.ts';
import { testKafka, uniqueName } from '../test/helpers.ts';
import { ensureTopics } from './kafka.ts';

const kafka = testKafka();

it('a read_committed consumer sees no record of transactions aborted out of the order they began in', async () => {
  const topic = uniqueName('abort-order');
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const first = kafka.producer({ transactionalId: `${topic}.first`, idempotent: true, maxInFlightRequests: 1 });
  const second = kafka.producer({ transactionalId: `${topic}.second`, idempotent: true, maxInFlightRequests: 1 });
  const plain = kafka.producer();
  await Promise.all([first.connect(), second.connect(), plain.connect()]);
  try {
    await plain.send({ topic, messages: [{ key: 'committed-before', value: 'x' }] });
    const t1 = await first.transaction();
    await t1.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `first-${i}`, value: 'x' })) });
    const t2 = await second.transaction();
    await t2.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `second-${i}`, value: 'x' })) });
    await t1.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ key: `first-late-${i}`, value: 'x' })) });
    // The one that began later aborts first.
    await t2.abort();
    await t1.abort();
    // The same producer's next transaction commits: its records pass.
    const t3 = await first.transaction();
    await t3.send({ topic, messages: [{ key: 'committed-in-transaction', value: 'x' }] });
    await t3.commit();
    await plain.send({ topic, messages: [{ key: 'committed-after', value: 'x' }] });
  } finally {
    await Promise.all([first.disconnect(), second.disconnect(), plain.disconnect()]);
  }
  const read = await readTopic(kafka, topic, 3, { idleMs: 2_000 });
  expect([...read.keys.keys()].sort()).toEqual(['committed-after', 'committed-before', 'committed-in-transaction']);
  // What is in the log (the aborted records are there, read_uncommitted sees them).
  const all = await readTopic(kafka, topic, 28, { readUncommitted: true, idleMs: 2_000 });
  expect(all.count).toBe(28);
}, 60_000);
