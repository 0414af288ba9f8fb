// Where polled records go: raw envelopes (acked by Kafka) and dead letters for records refused at the door (reader.ts).
import type { SchemaRegistry } from '../../core/avro.ts';
import { RawEnvelopePublisher, type RawEnvelope } from '../../core/envelope.ts';
import { DeadLetterWriter, type DeadLetter } from '../../core/dead-letter.ts';
import type { AckedPublisher } from '../../core/kafka.ts';

/** The narrow interface the poller needs; tests can pass an in-memory implementation. */
export interface RecordSink {
  publish(envelopes: RawEnvelope[], topic: string): Promise<void>;
  deadLetter(letters: DeadLetter[], topic: string): Promise<void>;
  /** Called once the connector stops. */
  close?(): void;
}

export class KafkaRecordSink implements RecordSink {
  private readonly raw: RawEnvelopePublisher;
  private readonly deadLetterWriters = new Map<string, DeadLetterWriter>();
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

  async deadLetter(letters: DeadLetter[], topic: string): Promise<void> {
    if (letters.length === 0) return;
    let writer = this.deadLetterWriters.get(topic);
    if (!writer) {
      writer = new DeadLetterWriter(this.registry, topic);
      this.deadLetterWriters.set(topic, writer);
    }
    const w = writer;
    return this.firstAlone(`dlq:${topic}`, () => w.publish(letters, this.publisher));
  }

  /** Sums up the dead-letter lines of the last second (DeadLetterWriter.close), once the connector stops. */
  close(): void {
    for (const writer of this.deadLetterWriters.values()) writer.close();
  }
}
