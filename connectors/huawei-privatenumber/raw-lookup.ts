// Finds the latest raw envelope for (tenant, natural key) in a raw topic by reading it from the beginning up to the
// current end. Used by `cdrflow recording`; a scan, so it is for one-off lookups, not for the pipeline.
import { randomUUID } from 'node:crypto';
import type { Kafka } from '../../core/kafka.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';

export async function findRawEnvelope(kafka: Kafka, registry: SchemaRegistry, topic: string, tenant: string, key: string, timeoutMs = 120_000): Promise<RawEnvelope | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `cdrflow-lookup-${randomUUID()}`;
  const ends = new Map<number, bigint>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high));
    }
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return undefined;
  let found: RawEnvelope | undefined;
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lookup in ${topic} did not finish within ${timeoutMs} ms`)), timeoutMs);
      const remaining = new Set(ends.keys());
      consumer.subscribe({ topic, fromBeginning: true }).then(() =>
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (message.key?.toString('utf8') === key) {
              const envelope = (await registry.decode(message.value!)) as RawEnvelope;
              if (envelope.tenant_id === tenant) found = envelope;
            }
            if (BigInt(message.offset) + 1n >= ends.get(partition)!) {
              remaining.delete(partition);
              if (remaining.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
          },
        }),
      ).catch(reject);
    });
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
  return found;
}
