// A stop asked for while `cdrflow start` is still starting a stream stage (app/pipeline.ts, its supervisor retrying a
// start that Kafka or ClickHouse refuses): the retries end at once, as README says, instead of running on until the
// first start's minute is out (past the job's 45 s hard deadline, so the stop exited 1). Clients are stand-ins.
import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '../core/avro.ts';
import type { Kafka } from '../core/kafka.ts';
import { memoryLog } from '../core/log.ts';
import { appConfigSchema } from './config.ts';
import { AppMetrics } from './metrics.ts';
import { pipeline } from './pipeline.ts';
import type { ComponentState } from './supervise.ts';

/** A ClickHouse client every call of which is refused, as a server that is not up refuses it. */
const refusing = new Proxy({} as ClickHouseClient, {
  get: () => async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
  },
});

describe('a stop during the start of a stream stage', () => {
  it('ends the retries of the stage being started at once, with StartCancelled', async () => {
    const states: ComponentState[] = [];
    let waiting!: () => void;
    const firstRefusal = new Promise<void>((resolve) => (waiting = resolve));
    const cancel = new AbortController();
    const [sink] = pipeline(
      {
        config: appConfigSchema.parse({}),
        kafka: {} as Kafka,
        registry: {} as SchemaRegistry,
        clickhouse: refusing,
        metrics: new AppMetrics(),
        log: memoryLog(),
        say: () => {},
        setState: (_name, state) => {
          states.push(state);
          if (state.startsWith('waiting')) waiting();
        },
        cancelStart: cancel.signal,
      },
      { pull: {}, receiver: undefined },
    );
    expect(sink!.name).toBe('sink');
    const starting = sink!.start(() => {});
    await firstRefusal;
    const startedAt = Date.now();
    cancel.abort();
    await expect(starting).rejects.toMatchObject({ name: 'StartCancelled' });
    // One backoff (at most 0.5 s at this point) at the most, not the first start's minute.
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  }, 15_000);
});
