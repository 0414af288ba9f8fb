// `--repair` of raw records neither normalized nor dead-lettered: the report names them by cdr_id, the raw topic by
// its raw key; under a PII key an LVMS composite key's number is hashed in the cdr_id, so the raw records are found
// by normalizing their keys, never by reading a key back out of a cdr_id.
import { describe, expect, it, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka, OutgoingMessage, ScannedMessage } from '../core/kafka.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import { normalizedCdrId } from '../transforms/normalize/index.ts';
import type { ReconcileReport } from './model.ts';
import { repair } from './repair.ts';
import { repairContext } from './fixtures/repair-context.ts';

const sent: OutgoingMessage[] = [];
let topicMessages: ScannedMessage[] = [];

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  scanTopicToEnd: async (_kafka: Kafka, _topic: string, visit: (m: ScannedMessage) => Promise<void> | void) => {
    for (const m of topicMessages) await visit(m);
  },
  AckedPublisher: class {
    send(_topic: string, messages: OutgoingMessage[]) {
      sent.push(...messages);
      return Promise.resolve();
    }
    disconnect() {
      return Promise.resolve();
    }
  },
}));
vi.mock('./contract-decoder.ts', () => ({ contractDecoder: () => (value: Buffer) => Promise.resolve(JSON.parse(value.toString('utf8')) as RawEnvelope) }));
vi.mock('./pipeline.ts', () => ({ waitForSnapshot: () => Promise.resolve({ caughtUp: true, behind: 0 }) }));

const PII_KEY = 'repair-pii-key-0123456789';
const TOPIC = 'cdr.raw.alibaba-lvms';

function rawMessage(naturalKey: string, offset: number): ScannedMessage {
  const envelope = { vendor: 'alibaba-lvms', tenant_id: 'app', natural_key: naturalKey, payload: '{}' };
  return { partition: 0, offset, key: Buffer.from(naturalKey), value: Buffer.from(JSON.stringify(envelope)), timestamp: 0 } as unknown as ScannedMessage;
}

describe('repair: raw records not normalized', () => {
  it('appends again the composite-keyed LVMS record the report names by its hashed cdr_id, and no other', async () => {
    const wanted = 'job:5001|13800138000|2026-11-30 18:00:00';
    topicMessages = [rawMessage('job:5001|13900139000|2026-11-30 18:00:00', 0), rawMessage(wanted, 1), rawMessage('880001', 2)];
    const id = normalizedCdrId('alibaba-lvms', 'app', wanted, PII_KEY);
    const report = {
      scope: { tz: 'UTC' },
      rows: [{ vendor: 'alibaba-lvms', tenant: 'app', day: '2026-11-30', unmergedDuplicates: 0, drift: [{ kind: 'not_normalized', count: 1, detail: '', ids: [id], repairable: true }] }],
    } as unknown as ReconcileReport;
    const ctx = repairContext({
      clickhouse: { command: () => Promise.resolve() } as unknown as ClickHouseClient,
      rawTopics: [{ vendor: 'alibaba-lvms', topic: TOPIC }],
      piiKey: PII_KEY,
    });
    const actions = await repair(report, ctx);
    expect(actions.find((a) => a.kind === 'replay_raw')).toMatchObject({ records: 1, sample: [id] });
    expect(sent.map((m) => String(m.key))).toEqual([wanted]);
  });
});
