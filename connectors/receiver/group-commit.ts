// Group commit: while one Kafka send for a topic is waiting for its acks, envelopes from other requests queue up and
// go together in the next send. Each request still resolves only when the send carrying its own envelopes was
// acknowledged, so the "answer after Kafka acked" rule holds per request, but a busy receiver makes one produce call
// per round trip instead of one per push. Adds no delay when idle (the first request is sent at once).
import type { RawEnvelope } from '../../core/envelope.ts';
import type { EnvelopeSink } from './types.ts';

interface Pending {
  envelopes: RawEnvelope[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommitSink implements EnvelopeSink {
  private readonly queues = new Map<string, Pending[]>();
  private readonly sending = new Set<string>();

  constructor(
    private readonly inner: EnvelopeSink,
    private readonly maxBatchRecords: number,
  ) {}

  publish(envelopes: RawEnvelope[], topic: string): Promise<void> {
    if (envelopes.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let queue = this.queues.get(topic);
      if (!queue) this.queues.set(topic, (queue = []));
      queue.push({ envelopes, resolve, reject });
      if (!this.sending.has(topic)) void this.drain(topic);
    });
  }

  private async drain(topic: string): Promise<void> {
    this.sending.add(topic);
    try {
      const queue = this.queues.get(topic)!;
      while (queue.length > 0) {
        // A request's envelopes are never split across sends: one request, one ack.
        const batch: Pending[] = [];
        let records = 0;
        while (queue.length > 0 && (batch.length === 0 || records + queue[0]!.envelopes.length <= this.maxBatchRecords)) {
          const next = queue.shift()!;
          batch.push(next);
          records += next.envelopes.length;
        }
        try {
          await this.inner.publish(batch.flatMap((p) => p.envelopes), topic);
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.sending.delete(topic);
    }
  }
}
