// Where polled records go: raw envelopes (acked by Kafka) and dead letters for records that cannot be keyed.
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { RawEnvelopePublisher, type RawEnvelope } from '../../core/envelope.ts';
import { TopicCodec } from '../../core/avro.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import type { AckedPublisher } from '../../core/kafka.ts';

export interface DeadLetterInput {
  payload: string;
  reason: string;
  component: string;
  vendor: string;
  originTopic: string;
}

/** The narrow interface the poller needs; tests can pass an in-memory implementation. */
export interface RecordSink {
  publish(envelopes: RawEnvelope[], topic: string): Promise<void>;
  deadLetter(letters: DeadLetterInput[], topic: string): Promise<void>;
}

export class KafkaRecordSink implements RecordSink {
  private readonly raw: RawEnvelopePublisher;
  private readonly dlqCodecs = new Map<string, TopicCodec>();
  /** First publish per topic, which registers the schema; the rest wait for it (see `publish`). */
  private readonly firstPublish = new Map<string, Promise<void>>();

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly publisher: AckedPublisher,
  ) {
    this.raw = new RawEnvelopePublisher(registry, publisher);
  }

  publish(envelopes: RawEnvelope[], topic: string): Promise<void> {
    if (envelopes.length === 0) return Promise.resolve();
    return this.firstAlone(`raw:${topic}`, () => this.raw.publish(envelopes, topic));
  }

  /**
   * Codecs register their schema on first use; concurrent first uses race on a new subject (Apicurio answers 409
   * to the loser), so the first write per topic runs alone and later ones wait for it.
   */
  private async firstAlone(key: string, write: () => Promise<void>): Promise<void> {
    const first = this.firstPublish.get(key);
    if (first) {
      await first.catch(() => undefined);
      return write();
    }
    const run = write();
    this.firstPublish.set(key, run);
    try {
      await run;
    } catch (err) {
      this.firstPublish.delete(key);
      throw err;
    }
  }

  async deadLetter(letters: DeadLetterInput[], topic: string): Promise<void> {
    if (letters.length === 0) return;
    return this.firstAlone(`dlq:${topic}`, () => this.writeDeadLetters(letters, topic));
  }

  private async writeDeadLetters(letters: DeadLetterInput[], topic: string): Promise<void> {
    let codec = this.dlqCodecs.get(topic);
    if (!codec) {
      codec = new TopicCodec(this.registry, topic, SCHEMA_FILES.deadLetter);
      this.dlqCodecs.set(topic, codec);
    }
    const messages = [];
    for (const l of letters) {
      const value = await codec.encode({
        original_value: Buffer.from(l.payload, 'utf8'),
        original_key: null,
        origin_topic: l.originTopic,
        origin_partition: -1,
        origin_offset: -1,
        error_kind: 'bad_record',
        error_message: l.reason,
        component: l.component,
        vendor: l.vendor,
        cdr_id: null,
        failed_at: new Date(),
      });
      messages.push({ key: null, value });
    }
    await this.publisher.send(topic, messages);
  }
}
