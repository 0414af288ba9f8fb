// AckedPublisher's recovery from a producer the broker no longer accepts, on a stand-in for kafkajs' producer (the
// real case needs a broker killed between appending a batch and answering, which no test can time; the outage test
// of `cdrflow start` meets it when the kill lands there).
// Before kafkajs itself: its read_committed correction must be in place when kafkajs loads.
import './kafkajs-setup.ts';
import { describe, expect, it } from 'vitest';
import { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { AckedPublisher, producerStateLost, type Kafka } from './kafka.ts';
import { CdrflowError, disposition } from './errors.ts';

/** Producers that fail their sends with `errors` in turn (undefined: acknowledged), and what each was asked. */
function fakeKafka(errors: (Error | undefined)[], connecting: () => Promise<void> = async () => undefined) {
  const producers: { id: number; sent: number; connected: boolean; disconnected: boolean }[] = [];
  const kafka = {
    producer: () => {
      const p = { id: producers.length, sent: 0, connected: false, disconnected: false };
      producers.push(p);
      return {
        connect: async () => {
          await connecting();
          p.connected = true;
          p.disconnected = false;
        },
        disconnect: async () => void (p.disconnected = true),
        send: async () => {
          p.sent++;
          const err = errors.shift();
          if (err) throw err;
          return [];
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, producers };
}

const outOfOrder = () => new KafkaJSProtocolError({ type: 'OUT_OF_ORDER_SEQUENCE_NUMBER', code: 45, retriable: false, message: 'The broker received an out of order sequence number' } as never);
const message = { key: 'k', value: Buffer.from('v') };

describe('AckedPublisher', () => {
  it('replaces its producer when the broker refuses its sequence numbers, so the next send can succeed', async () => {
    // As kafkajs' retrier rejects a non-retriable answer: wrapped, the broker's error as its cause.
    const refused = Object.assign(new KafkaJSNonRetriableError(outOfOrder()), { cause: outOfOrder() });
    const { kafka, producers } = fakeKafka([refused, undefined]);
    const publisher = new AckedPublisher(kafka);
    const err = await publisher.send('raw', [message]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('transient');
    expect((err as Error).message).toMatch(/out of order sequence number; the producer was replaced/);
    await publisher.send('raw', [message]);
    expect(producers.map((p) => [p.sent, p.connected, p.disconnected])).toEqual([[1, true, true], [1, true, false]]);
  });

  it('keeps its producer through other failures (a broker away is retried by the same producer)', async () => {
    const away = new KafkaJSNumberOfRetriesExceeded(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { retryCount: 5, retryTime: 100 } as never);
    const { kafka, producers } = fakeKafka([away, undefined]);
    const publisher = new AckedPublisher(kafka);
    await expect(publisher.send('raw', [message])).rejects.toThrow(/ECONNREFUSED/);
    await publisher.send('raw', [message]);
    expect(producers).toHaveLength(1);
    expect(producers[0]!.sent).toBe(2);
  });

  it('refuses a send after disconnect() instead of connecting again (a push still in flight after the receiver stopped left a producer open)', async () => {
    const { kafka, producers } = fakeKafka([]);
    const publisher = new AckedPublisher(kafka);
    await publisher.send('raw', [message]);
    await publisher.disconnect();
    const err = await publisher.send('raw', [message]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('bug');
    expect((err as Error).message).toBe('the Kafka producer is closed: 1 message(s) for raw were not sent');
    await expect(publisher.connect()).rejects.toThrow(/the Kafka producer is closed/);
    expect(producers.map((p) => [p.sent, p.connected, p.disconnected])).toEqual([[1, true, true]]);
  });

  it('closes a producer whose connect was under way when disconnect() came, and fails the send waiting on it', async () => {
    let connected!: () => void;
    const { kafka, producers } = fakeKafka([], () => new Promise<void>((resolve) => (connected = resolve)));
    const publisher = new AckedPublisher(kafka);
    const sending = publisher.send('raw', [message]).catch((e: unknown) => e);
    await publisher.disconnect();
    connected();
    expect(((await sending) as CdrflowError).kind).toBe('bug');
    expect(producers.map((p) => [p.sent, p.connected, p.disconnected])).toEqual([[0, true, true]]);
  });

  it('stops on a send the broker refuses as too large, naming the topic, the record and the limit to raise (it was retried for ever)', async () => {
    // As kafkajs's retrier gives up on a refusal it does not retry: wrapped, the broker's answer as its cause.
    const tooLarge = () => new KafkaJSProtocolError({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'The request included a message larger than the max message size the server will accept' } as never);
    const refused = Object.assign(new KafkaJSNonRetriableError(tooLarge()), { cause: tooLarge() });
    const { kafka, producers } = fakeKafka([refused, undefined]);
    const publisher = new AckedPublisher(kafka);
    const large = { key: 'cdr-42', value: Buffer.alloc(60_000) };
    const err = await publisher.send('cdr.raw.huawei', [message, large]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('config');
    expect(disposition(err as CdrflowError)).toBe('stop');
    expect((err as CdrflowError).code).toBe('MESSAGE_TOO_LARGE');
    expect((err as Error).message).toBe(
      "Kafka refused 2 message(s) for topic cdr.raw.huawei as too large (MESSAGE_TOO_LARGE): raise max.message.bytes of the topic (or the broker's message.max.bytes) to at least 1048588 bytes; " +
        'the largest, key "cdr-42", is 60030 bytes, 60056 in all, and cdrflow writes up to 786432 bytes to a partition at once',
    );
    // Not a broken producer: it is kept.
    await publisher.send('cdr.raw.huawei', [message]);
    expect(producers).toHaveLength(1);
  });

  it('finds the producer-state errors however kafkajs wraps them, and nothing else', () => {
    expect(producerStateLost(outOfOrder())).toBe(true);
    expect(producerStateLost(new KafkaJSNumberOfRetriesExceeded(outOfOrder(), { retryCount: 1, retryTime: 1 } as never))).toBe(true);
    for (const type of ['UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING'])
      expect(producerStateLost(new KafkaJSProtocolError({ type, code: 1, retriable: false, message: type } as never)), type).toBe(true);
    expect(producerStateLost(new KafkaJSProtocolError({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'too large' } as never))).toBe(false);
    expect(producerStateLost(new Error('boom'))).toBe(false);
    expect(producerStateLost(null)).toBe(false);
    expect(producerStateLost('OUT_OF_ORDER_SEQUENCE_NUMBER')).toBe(false);
    // A cycle of causes ends.
    const a: { type?: string; cause?: unknown } = {};
    a.cause = a;
    expect(producerStateLost(a)).toBe(false);
  });
});
