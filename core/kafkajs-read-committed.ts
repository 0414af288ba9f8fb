// read_committed that holds when several producers' transactions abort out of order: a correction of kafkajs 2.2.4,
// installed before kafkajs loads (core/kafka.ts imports this module first).
//
// A fetch answer lists the aborted transactions in the fetched range in the order they were ABORTED; kafkajs's
// filterAbortedMessages assumes the order they BEGAN and enters at most one per record, so when a transaction that began
// later aborts first (two normalize members restarted, each fencing its dead predecessor's open transaction), the
// earlier one's records pass as committed. The crash test with two workers saw it as 20 or 40 normalized records
// "committed twice" (kafkajs-read-committed.int.test.ts reproduces it on the broker). Every cdrflow stage reads with
// kafkajs: the sink and the dead-letter loader read topics that normalize writes in transactions. Java's consumer
// orders them by first offset; so does this.
import { createRequire } from 'node:module';
import { replaceKafkajsModule } from './kafkajs-replace.ts';

interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string | number | { toString(): string }; inTransaction?: boolean };
}
interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

/** The key of an ABORT control record: version 0, type 0 (COMMIT is type 1). */
function isAbortMarker(m: FetchedMessage): boolean {
  return m.isControlRecord === true && m.key !== null && m.key.length >= 4 && m.key.readInt16BE(0) === 0 && m.key.readInt16BE(2) === 0;
}

/**
 * The fetched records without those of aborted transactions (control records are kept: kafkajs drops them after).
 * A producer's records are dropped from its aborted transaction's first offset to that transaction's abort marker.
 */
export function filterAbortedMessages({ messages, abortedTransactions }: { messages: FetchedMessage[]; abortedTransactions?: AbortedTransaction[] | null }): FetchedMessage[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => {
    const d = BigInt(a.firstOffset) - BigInt(b.firstOffset);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
  const inAborted = new Set<string>();
  let next = 0;
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    // Every aborted transaction that has begun by this record (several may begin before a fetch's first record).
    while (next < pending.length && offset >= BigInt(pending[next]!.firstOffset)) inAborted.add(String(pending[next++]!.producerId));
    const producerId = String(m.batchContext.producerId);
    if (m.isControlRecord) {
      if (isAbortMarker(m)) inAborted.delete(producerId);
      return true;
    }
    return !(m.batchContext.inTransaction && inAborted.has(producerId));
  });
}

/** Puts the filter above in place of kafkajs's, and proves kafkajs's Batch now uses it. */
function install(): void {
  const require = createRequire(import.meta.url);
  replaceKafkajsModule('kafkajs/src/consumer/filterAbortedMessages.js', () => filterAbortedMessages);
  // kafkajs's Batch took its filter when it loaded: if kafkajs loaded before this module, it still has the old one.
  const Batch = require('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, data: object) => { messages: FetchedMessage[] };
  const record = (offset: number, producerId: string): FetchedMessage => ({ offset: String(offset), key: Buffer.from('k'), batchContext: { producerId, inTransaction: true } });
  const probe = new Batch('probe', '0', {
    partition: 0,
    highWatermark: '3',
    messages: [record(0, '1'), record(1, '2'), record(2, '1')],
    abortedTransactions: [
      { producerId: '2', firstOffset: '1' },
      { producerId: '1', firstOffset: '0' },
    ],
  });
  if (probe.messages.length !== 0) {
    throw new Error('kafkajs loaded before core/kafkajs-read-committed.ts: its read_committed consumers would pass aborted records (import core/kafka.ts, not kafkajs)');
  }
}

install();
