// The production EnvelopeSink: Avro envelopes through the schema registry, acks=all idempotent producer.
import { createKafka, ensureTopics, kafkaSettingsFromEnv, AckedPublisher } from '../../core/kafka.ts';
import { createRegistry } from '../../core/avro.ts';
import { schemaRegistryUrl } from '../../core/local-endpoints.ts';
import { RawEnvelopePublisher } from '../../core/envelope.ts';
import type { EnvelopeSink } from './types.ts';

export async function createKafkaEnvelopeSink(
  topics: string[],
  env: NodeJS.ProcessEnv = process.env,
  clientId = 'cdrflow-receiver',
): Promise<{ sink: EnvelopeSink; close(): Promise<void> }> {
  const kafka = createKafka(kafkaSettingsFromEnv(clientId, env));
  await ensureTopics(kafka, [...new Set(topics)].map((topic) => ({ topic })));
  const acked = new AckedPublisher(kafka);
  await acked.connect();
  const publisher = new RawEnvelopePublisher(createRegistry(schemaRegistryUrl(env)), acked);
  return {
    sink: { publish: (envelopes, topic) => publisher.publish(envelopes, topic) },
    close: () => acked.disconnect(),
  };
}
