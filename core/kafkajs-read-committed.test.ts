// The read_committed filter that replaces kafkajs's (core/kafkajs-read-committed.ts), record by record; the broker's
// side is in kafkajs-read-committed.int.test.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { filterAbortedMessages } from './kafkajs-read-committed.ts';

const data = (offset: number, producerId: string, inTransaction = true) => ({ offset: String(offset), key: Buffer.from(`r${offset}`), batchContext: { producerId, inTransaction } });
const marker = (offset: number, producerId: string, type: 0 | 1) => {
  const key = Buffer.alloc(4);
  key.writeInt16BE(type, 2);
  return { offset: String(offset), key, isControlRecord: true, batchContext: { producerId, inTransaction: true } };
};
const offsets = (ms: { offset: string; isControlRecord?: boolean }[]) => ms.filter((m) => !m.isControlRecord).map((m) => Number(m.offset));

describe('filterAbortedMessages', () => {
  it('drops aborted transactions listed in the order they aborted, not the order they began', () => {
    // Producer 1's transaction 0..(abort at 6); producer 2's 1..(abort at 5); producer 3 commits 2, 3 in between.
    const messages = [data(0, '1'), data(1, '2'), data(2, '3'), data(3, '1'), data(4, '3'), marker(5, '2', 0), marker(6, '1', 0), marker(7, '3', 1), data(8, '1')];
    const aborted = [
      { producerId: '2', firstOffset: '1' },
      { producerId: '1', firstOffset: '0' },
    ];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: aborted }))).toEqual([2, 4, 8]);
  });

  it('enters every aborted transaction that began before a fetch that starts inside them', () => {
    const messages = [data(10, '1'), data(11, '2'), marker(12, '1', 0), marker(13, '2', 0), data(14, '2', false)];
    const aborted = [
      { producerId: '1', firstOffset: '3' },
      { producerId: '2', firstOffset: '7' },
    ];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: aborted }))).toEqual([14]);
  });

  it("keeps a producer's committed transaction after its aborted one, and records outside transactions", () => {
    const messages = [data(0, '1'), marker(1, '1', 0), data(2, '1'), marker(3, '1', 1), data(4, '9', false)];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '1', firstOffset: '0' }] }))).toEqual([2, 4]);
  });

  it('a record whose key looks like an abort marker is data unless it is a control record', () => {
    const lookalike = { ...data(1, '1'), key: Buffer.alloc(4) };
    const messages = [data(0, '1'), lookalike, data(2, '1')];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '1', firstOffset: '0' }] }))).toEqual([]);
  });

  it('returns the records as they are when nothing was aborted', () => {
    const messages = [data(0, '1'), data(1, '2')];
    expect(filterAbortedMessages({ messages, abortedTransactions: [] })).toBe(messages);
    expect(filterAbortedMessages({ messages })).toBe(messages);
  });
});

describe('kafkajs', () => {
  it('is pinned at 2.2.4, the release whose internals the corrections hook (docs/stream-stages.md), and that is the one installed', () => {
    const json = (url: URL | string) => JSON.parse(readFileSync(url, 'utf8')) as { version?: string; dependencies?: Record<string, string>; packages?: Record<string, { dependencies?: Record<string, string> }> };
    // A range ("^2.2.4") would let a later kafkajs in on an install without the lock file.
    expect(json(new URL('../package.json', import.meta.url)).dependencies!['kafkajs']).toBe('2.2.4');
    expect(json(new URL('../package-lock.json', import.meta.url)).packages!['']!.dependencies!['kafkajs']).toBe('2.2.4');
    expect(json(createRequire(import.meta.url).resolve('kafkajs/package.json')).version).toBe('2.2.4');
  });
});
