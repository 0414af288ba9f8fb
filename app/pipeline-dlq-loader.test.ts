// The job's dead-letter loader is given the mapping's PII key (normalize.mapping.piiKey), so cdr_dead_letters holds
// no number in clear when normalize hashes them in cdr (sinks/clickhouse/rows.ts deadLetterTsvLine). The loader's
// start is a stand-in that records what it was given; the clients are never used.
import { describe, expect, it, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '../core/avro.ts';
import type { Kafka } from '../core/kafka.ts';
import { memoryLog } from '../core/log.ts';
import type { DlqLoaderDeps } from '../sinks/clickhouse/dlq-loader.ts';
import { appConfigSchema } from './config.ts';
import { AppMetrics } from './metrics.ts';
import { pipeline } from './pipeline.ts';

const given: DlqLoaderDeps[] = [];
const cancel = new AbortController();

vi.mock('../sinks/clickhouse/index.ts', async (original) => ({
  ...(await original<typeof import('../sinks/clickhouse/index.ts')>()),
  startDlqLoader: async (_config: unknown, _sink: unknown, deps: DlqLoaderDeps) => {
    given.push(deps);
    // Ends the stage's start here: a stop asked for while it starts (app/pipeline-cancel.test.ts).
    cancel.abort();
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' });
  },
}));

describe("the job's dead-letter loader", () => {
  it('is given the PII key normalize maps with', async () => {
    const piiKey = 'pipeline-test-pii-key-0123';
    const stages = pipeline(
      {
        config: appConfigSchema.parse({ normalize: { mapping: { piiKey } } }),
        kafka: {} as Kafka,
        registry: {} as SchemaRegistry,
        clickhouse: {} as ClickHouseClient,
        metrics: new AppMetrics(),
        log: memoryLog(),
        say: () => {},
        setState: () => {},
        cancelStart: cancel.signal,
      },
      { pull: {}, receiver: undefined },
    );
    const loader = stages.find((s) => s.name === 'dlq-loader');
    await expect(loader!.start(() => {})).rejects.toMatchObject({ name: 'StartCancelled' });
    expect(given.map((d) => d.piiKey)).toEqual([piiKey]);
  });
});
