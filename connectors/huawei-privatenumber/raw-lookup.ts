// Finds the latest raw envelope for (tenant, natural key) in a raw topic by reading it from the beginning up to the
// current end. Used by `cdrflow recording`; a scan, so it is for one-off lookups, not for the pipeline.
import { TopicCodec, type SchemaRegistry } from '../../core/avro.ts';
import { scanTopicToEnd, type Kafka } from '../../core/kafka.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';

export async function findRawEnvelope(kafka: Kafka, registry: SchemaRegistry, topic: string, tenant: string, key: string, timeoutMs = 120_000): Promise<RawEnvelope | undefined> {
  // Same key, same partition: the candidates arrive in offset order, so the last one of the tenant is the latest.
  const candidates: Buffer[] = [];
  await scanTopicToEnd(kafka, topic, (m) => m.value !== null && m.key?.toString('utf8') === key && void candidates.push(m.value), { timeoutMs });
  const codec = new TopicCodec(registry, topic, SCHEMA_FILES.rawEnvelope);
  let found: RawEnvelope | undefined;
  for (const value of candidates) {
    const envelope = await codec.decode<RawEnvelope>(value);
    if (envelope.tenant_id === tenant) found = envelope;
  }
  return found;
}
