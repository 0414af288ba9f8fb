// The job's `POST /reconcile` handler: one run at a time, and every answer that is not a verdict says which exit code
// the CLI gives it (3: no verdict, the run could not be made).
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../core/kafka.ts';
import { loadAppConfig } from './config.ts';
import { startReconcileService, type ReconcileService } from './reconcile-service.ts';

/** A Kafka whose admin never connects: a run started on it stays in progress (its first step waits for the stages). */
const stuckKafka = { admin: () => ({ connect: () => new Promise(() => {}), disconnect: () => Promise.resolve() }) } as unknown as Kafka;

function serviceOn(kafka: Kafka): ReconcileService {
  return startReconcileService(loadAppConfig({ env: {} }), {
    kafka,
    registry: {} as SchemaRegistry,
    clickhouse: {} as ClickHouseClient,
    connectors: () => [],
    promRegistry: new Registry(),
    demo: false,
    say: () => {},
    log: () => {},
  });
}

const BODY = JSON.stringify({ from: '2026-11-30', to: '2026-11-30' });
const lines = () => {
  const out: Record<string, unknown>[] = [];
  return { out, write: (line: string) => void out.push(JSON.parse(line) as Record<string, unknown>) };
};

let service: ReconcileService | undefined;
afterEach(() => service?.stop());

describe('reconcile service (POST /reconcile)', () => {
  it('refuses a second run while one is in progress: no verdict, exit 3', async () => {
    service = serviceOn(stuckKafka);
    void service.handle(BODY, () => {});
    const second = lines();
    await service.handle(BODY, second.write);
    expect(second.out).toEqual([{ error: 'a reconcile run is already in progress in this job; try again when it finished', exitCode: 3 }]);
  });

  it('refuses a request that is not one: exit 64', async () => {
    service = serviceOn(stuckKafka);
    const { out, write } = lines();
    await service.handle(JSON.stringify({ from: 'yesterday', to: '2026-11-30' }), write);
    expect(out).toEqual([{ error: 'from must be a day YYYY-MM-DD', exitCode: 64 }]);
  });
});
