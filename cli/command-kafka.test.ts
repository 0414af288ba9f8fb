// A command's Kafka client (commandKafka, oneShotKafka) has its last second of limited kafkajs warnings summed up when
// the command ends (runCommand, as cli/main.ts runs every command): the process exits right after, before the
// limiter's one-second timer, and the `kafka.client_suppressed` line was lost. Kafka's reachability check is a
// stand-in; the warnings go through the client's own kafkajs logger, as kafkajs writes them.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LogFields } from '../core/log.ts';

vi.mock('../core/log.ts', async (actual) => {
  const log = await actual<typeof import('../core/log.ts')>();
  const memory = log.memoryLog();
  return { ...log, logger: (component: string) => memory.child(component), memoryEntries: memory.entries };
});
vi.mock('../core/kafka.ts', async (actual) => ({ ...(await actual<typeof import('../core/kafka.ts')>()), ensureKafkaReachable: () => Promise.resolve() }));

const { runCommand } = await import('./command.ts');
const { commandKafka, oneShotKafka } = await import('./kafka-access.ts');
const { loadAppConfig } = await import('../app/config.ts');
const { LINES_LOGGED_PER_SECOND } = await import('../core/log-limit.ts');
const { memoryEntries } = (await import('../core/log.ts')) as unknown as { memoryEntries: { event: string; fields: LogFields }[] };

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0, 400);
beforeEach(() => {
  // One second for every warning: the limiter counts per wall-clock second.
  vi.useFakeTimers({ toFake: ['Date'], now: NOW });
  memoryEntries.length = 0;
});
afterEach(() => vi.useRealTimers());

const config = loadAppConfig({ env: {} });
const clients = {
  oneShotKafka: () => oneShotKafka(config, 'cdrflow-test'),
  commandKafka: () => commandKafka({ brokers: ['127.0.0.1:9'], clientId: 'cdrflow-test' }),
};

describe('a command\'s Kafka client', () => {
  it.each([
    ['oneShotKafka', 'returns'],
    ['oneShotKafka', 'throws'],
    ['commandKafka', 'returns'],
  ] as const)('%s: the limited warnings of its last second are summed up once the command %s', async (client, ending) => {
    const run = async () => {
      const kafka = await clients[client]();
      const producer = kafka.logger().namespace('Producer');
      for (let i = 0; i < LINES_LOGGED_PER_SECOND + 7; i++) producer.error('Failed to send messages: This server does not host this topic-partition', { retryCount: i });
      if (ending === 'throws') throw new Error('read failed');
      return 0;
    };
    const ran = runCommand({ name: 'probe', summary: '', usage: '', run }, []);
    if (ending === 'throws') await expect(ran).rejects.toThrow('read failed');
    else expect(await ran).toBe(0);
    expect(memoryEntries.filter((e) => e.event === 'kafka.client')).toHaveLength(LINES_LOGGED_PER_SECOND);
    expect(memoryEntries.filter((e) => e.event === 'kafka.client_suppressed').map((e) => e.fields)).toEqual([
      { namespace: 'Producer', count: 7, second: new Date(NOW - 400).toISOString() },
    ]);
  });
});
