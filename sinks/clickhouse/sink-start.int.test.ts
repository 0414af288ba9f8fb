// A sink that cannot start lets go of what it took on the way: a consumer that fails to join (here, its input topic
// does not exist and the sink is told not to create it) must not leave its render thread and its dead-letter
// producer behind for the rest of the process (a supervisor retrying the start would pile them up).
import { afterAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { workerThreadTids } from '../../core/worker-thread.ts';
import { testClickHouse, testKafka, testRegistry, uniqueName } from '../../test/helpers.ts';
import { parseSinkConfig, startClickHouseSink } from './index.ts';

const kafka = testKafka();
const registry = testRegistry();
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> } | undefined;

afterAll(async () => {
  await ch?.cleanup();
});

const renderThreads = () => [...workerThreadTids()].filter(([, role]) => role === 'sink render').map(([tid]) => tid);

describe('a sink that cannot start', () => {
  it('fails its start and ends its render thread', async () => {
    ch = await testClickHouse('sinkstart');
    const before = renderThreads();
    const prefix = uniqueName('nostart');
    const config = parseSinkConfig({
      groupId: `${prefix}.sink`,
      inputTopic: `${prefix}.normalized`,
      deadLetterTopic: `${prefix}.dlq`,
      database: ch.database,
      createTopics: false,
      renderThread: true,
    });
    await expect(startClickHouseSink(config, { kafka, registry, clickhouse: ch.client })).rejects.toThrow(/consumer group|topic/i);
    expect(renderThreads()).toEqual(before);
  }, 120_000);
});
