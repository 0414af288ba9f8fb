// The raw envelope (schemas/raw-envelope.avsc) as a TypeScript type, and how connectors publish it.
import type { Vendor } from './topology.ts';
import { TOPICS, SCHEMA_FILES } from './topology.ts';
import type { AckedPublisher, OutgoingMessage } from './kafka.ts';
import { TopicCodec } from './avro.ts';
import type { SchemaRegistry } from './avro.ts';

export type IngestMode = 'live' | 'backfill' | 'import';

export interface RawEnvelope {
  vendor: Vendor;
  tenant_id: string;
  natural_key: string;
  /** avsc maps timestamp-millis to Date. */
  received_at: Date;
  connector: string;
  mode: IngestMode;
  request_id: string | null;
  /** The vendor record verbatim. */
  payload: string;
  payload_format: string;
  attributes: Record<string, string>;
}

/** Publishes raw envelopes to `cdr.raw.<vendor>` (or another envelope topic), keyed by natural key, acked by Kafka. */
export class RawEnvelopePublisher {
  private readonly codecs = new Map<string, TopicCodec>();

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly publisher: AckedPublisher,
  ) {}

  private codec(topic: string): TopicCodec {
    let codec = this.codecs.get(topic);
    if (!codec) {
      codec = new TopicCodec(this.registry, topic, SCHEMA_FILES.rawEnvelope);
      this.codecs.set(topic, codec);
    }
    return codec;
  }

  /** Resolves only after Kafka acknowledged every envelope (acks=all). Topic defaults to the vendor's raw topic. */
  async publish(envelopes: RawEnvelope[], topic?: string): Promise<void> {
    if (envelopes.length === 0) return;
    const target = topic ?? TOPICS.raw(envelopes[0]!.vendor);
    const codec = this.codec(target);
    const messages: OutgoingMessage[] = [];
    for (const e of envelopes) messages.push({ key: e.natural_key, value: codec.encodeReady(e) ?? (await codec.encode(e)) });
    await this.publisher.send(target, messages);
  }
}

/**
 * Envelope attribute naming the vendor API a payload was read from, when a vendor has several record shapes (TRTC
 * v1 / v4): normalize, and every replay after it, maps the payload by this, not by guessing from its shape.
 */
export const API_VERSION_ATTRIBUTE = 'api_version';
