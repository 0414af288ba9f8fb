// A topic that is not there, for `cdrflow dlq` and `cdrflow tail`: recognised by the error core/kafka.ts's readTopic
// raises for it (its code), never by words in a message: another failure that mentions "does not exist" (a registry's
// missing subject) is not a missing topic, and the topic a user typed is quoted before it reaches the terminal.
// Kafka is a stand-in admin client whose topic list and offsets the test sets.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CdrflowError } from '../../core/errors.ts';

const cluster = vi.hoisted(() => ({ topics: [] as string[], offsetsFail: undefined as Error | undefined }));
const fakeKafka = {
  admin: () => ({
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve(cluster.topics),
    fetchTopicOffsets: () => (cluster.offsetsFail ? Promise.reject(cluster.offsetsFail) : Promise.resolve([])),
  }),
};
vi.mock('../kafka-access.ts', async (actual) => ({ ...(await actual<typeof import('../kafka-access.ts')>()), oneShotKafka: () => Promise.resolve(fakeKafka) }));

const { command: dlq } = await import('./dlq.ts');
const { command: tail } = await import('./tail.ts');
const { UsageError } = await import('../command.ts');

const otherFailure = () => new CdrflowError('schema', 'subject "cdr.dlq-value" does not exist in the schema registry');
let printed: string[];

beforeEach(() => {
  cluster.topics = [];
  cluster.offsetsFail = undefined;
  printed = [];
  vi.spyOn(console, 'log').mockImplementation((text: string) => void printed.push(text));
  return () => vi.restoreAllMocks();
});

describe('cdrflow dlq', () => {
  it('a dead-letter topic not created yet (no dead letter was ever written) is an empty summary', async () => {
    expect(await dlq.run(['--json'])).toBe(0);
    expect(JSON.parse(printed.join(''))).toMatchObject({ total: 0 });
  });

  it('another failure that mentions "does not exist" is not taken for a missing topic', async () => {
    cluster.topics = ['cdr.dlq'];
    cluster.offsetsFail = otherFailure();
    await expect(dlq.run(['--json'])).rejects.toBe(cluster.offsetsFail);
    expect(printed).toEqual([]);
  });
});

describe('cdrflow tail', () => {
  it('a topic that does not exist is a usage error naming it quoted, so its control characters cannot reach the terminal', async () => {
    const err = await tail.run(['cdr.norma\u001b[2Jlized', '--format', 'json']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^topic "cdr\.norma\\u001b\[2Jlized" does not exist/);
  });

  it('a topic of the configuration that is not created yet says so', async () => {
    await expect(tail.run(['cdr.normalized', '--format', 'json'])).rejects.toThrow('topic "cdr.normalized" does not exist yet: the pipeline creates it when it starts');
  });

  it('another failure that mentions "does not exist" is thrown as it is, not as a missing topic', async () => {
    cluster.topics = ['cdr.normalized'];
    cluster.offsetsFail = otherFailure();
    await expect(tail.run(['cdr.normalized', '--format', 'json'])).rejects.toBe(cluster.offsetsFail);
  });
});
