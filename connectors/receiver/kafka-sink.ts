// The production EnvelopeSink: Avro envelopes through the schema registry, acks=all idempotent producer.
import type { SchemaRegistry } from '../../core/avro.ts';
import { ensureTopics, AckedPublisher, type Kafka } from '../../core/kafka.ts';
import { RawEnvelopePublisher } from '../../core/envelope.ts';
import type { EnvelopeSink } from './types.ts';

export interface KafkaEnvelopeSink {
  sink: EnvelopeSink;
  close(): Promise<void>;
}

/** An envelope sink on the caller's Kafka client and registry: the topics are created, the producer connected. */
export async function kafkaEnvelopeSink(kafka: Kafka, registry: SchemaRegistry, topics: string[]): Promise<KafkaEnvelopeSink> {
  await ensureTopics(kafka, [...new Set(topics)].map((topic) => ({ topic })));
  const acked = new AckedPublisher(kafka);
  await acked.connect();
  const publisher = new RawEnvelopePublisher(registry, acked);
  return {
    sink: { publish: (envelopes, topic) => publisher.publish(envelopes, topic) },
    close: () => acked.disconnect(),
  };
}
