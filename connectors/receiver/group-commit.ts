// Group commit: while one Kafka send for a topic is waiting for its acks, envelopes from other requests queue up and
// go together in the next send. Each request still resolves only when the send carrying its own envelopes was
// acknowledged, so the "answer after Kafka acked" rule holds per request, but a busy receiver makes one produce call
// per round trip instead of one per push. Adds no delay when idle (the first request is sent at once).
import type { RawEnvelope } from '../../core/envelope.ts';
import { MAX_PARTITION_SEND_BYTES } from '../../core/kafka.ts';
import type { EnvelopeSink } from './types.ts';

interface Pending {
  envelopes: RawEnvelope[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommitSink implements EnvelopeSink {
  private readonly queues = new Map<string, Pending[]>();
  private readonly sending = new Set<string>();

  /**
   * `maxBatchBytes` bounds the payload bytes of one send: kafkajs puts a partition's share of a send into one record
   * batch, and the broker refuses batches above message.max.bytes (1 MiB by default) with MESSAGE_TOO_LARGE.
   */
  constructor(
    private readonly inner: EnvelopeSink,
    private readonly maxBatchRecords: number,
    private readonly maxBatchBytes: number = MAX_PARTITION_SEND_BYTES,
    /** Told of every send once it settled: its topic, records, milliseconds, and whether it was acknowledged. */
    private readonly onSend?: (send: { topic: string; records: number; ms: number; ok: boolean }) => void,
  ) {}

  /**
   * `signal` withdraws the request while it still waits in the queue (rejected with the signal's reason, never sent):
   * its caller has given up on it. Once its send has started it can no longer be withdrawn.
   */
  publish(envelopes: RawEnvelope[], topic: string, signal?: AbortSignal): Promise<void> {
    if (envelopes.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let queue = this.queues.get(topic);
      if (!queue) this.queues.set(topic, (queue = []));
      const pending: Pending = { envelopes, resolve, reject };
      if (signal) {
        const withdraw = () => {
          const at = queue.indexOf(pending);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', withdraw, { once: true });
        const settled = () => signal.removeEventListener('abort', withdraw);
        pending.resolve = () => (settled(), resolve());
        pending.reject = (err) => (settled(), reject(err));
      }
      queue.push(pending);
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
        let bytes = 0;
        while (queue.length > 0) {
          const next = queue[0]!;
          const nextBytes = payloadBytes(next.envelopes);
          if (batch.length > 0 && (records + next.envelopes.length > this.maxBatchRecords || bytes + nextBytes > this.maxBatchBytes)) break;
          queue.shift();
          batch.push(next);
          records += next.envelopes.length;
          bytes += nextBytes;
        }
        const started = performance.now();
        try {
          await this.inner.publish(batch.flatMap((p) => p.envelopes), topic);
          this.onSend?.({ topic, records, ms: performance.now() - started, ok: true });
          for (const p of batch) p.resolve();
        } catch (err) {
          this.onSend?.({ topic, records, ms: performance.now() - started, ok: false });
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.sending.delete(topic);
    }
  }
}

function payloadBytes(envelopes: RawEnvelope[]): number {
  // Payload length in UTF-16 units undercounts multi-byte text by at most 3x; the envelope fields add ~200 bytes.
  let n = 0;
  for (const e of envelopes) n += e.payload.length * 2 + 256;
  return n;
}
