// `cdrflow status` without a running job: the snapshot is computed from Kafka and ClickHouse (both stood in for here)
// and the configuration given, which says what the job would poll.
import { describe, expect, it, vi } from 'vitest';
import { loadAppConfig } from '../../app/config.ts';
import { formatStatus } from '../../app/status.ts';

const saved = { watermark: '2026-12-01T10:00:00.000Z', updatedAt: '2026-12-01T11:59:00.000Z' };
// One live checkpoint per configured tenant, and one of a CCC tenant removed from the configuration.
const stored = ['tencent-ccc:1400000001:live', 'tencent-ccc:1400000009:live', 'tencent-trtc:1600000001:live'];

vi.mock('../../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../../core/kafka.ts')>()),
  ensureKafkaReachable: async () => undefined,
}));
vi.mock('../kafka-access.ts', async (original) => ({
  ...(await original<typeof import('../kafka-access.ts')>()),
  commandKafka: async () => ({}),
}));
vi.mock('../../core/kafka-streams.ts', async (original) => ({
  ...(await original<typeof import('../../core/kafka-streams.ts')>()),
  stageLag: async () => 0,
}));
vi.mock('../../core/clickhouse.ts', async (original) => ({
  ...(await original<typeof import('../../core/clickhouse.ts')>()),
  createClickHouse: async () => {
    throw new Error('no ClickHouse in a unit test');
  },
}));
vi.mock('../../core/checkpoints.ts', async (original) => ({
  ...(await original<typeof import('../../core/checkpoints.ts')>()),
  CheckpointStore: class {
    async load() {}
    entries() {
      return stored.map((id) => [id, saved]);
    }
    async close() {}
  },
}));
const { computeStatusDirectly } = await import('./status.ts');

describe('cdrflow status computed directly', () => {
  it("marks a live checkpoint of a tenant the configuration no longer polls, as the running job's status does", async () => {
    const config = loadAppConfig({
      env: { TENCENT_CCC_SECRET_ID: 'id', TENCENT_CCC_SECRET_KEY: 'key', TENCENT_CCC_SDKAPPIDS: '1400000001', TENCENT_TRTC_APPS: '1600000001:secret' },
    });
    const { snapshot } = await computeStatusDirectly(config);
    expect(snapshot.checkpoints.map((c) => c.id)).toEqual(stored);
    expect(snapshot.polledCheckpoints).toEqual(['tencent-ccc:1400000001:live', 'tencent-trtc:1600000001:live']);
    const lines = formatStatus(snapshot).split('\n');
    expect(lines.find((l) => l.startsWith('  tencent-ccc:1400000009:live'))).toMatch(/ago \(not polled\)$/);
    expect(lines.filter((l) => l.includes('(not polled)'))).toHaveLength(1);
  });

  it('marks no live checkpoint when the configuration has no pull connector (a --config left out says nothing of what the job polls)', async () => {
    const { snapshot } = await computeStatusDirectly(loadAppConfig({ env: {} }));
    expect(snapshot.polledCheckpoints).toBeUndefined();
    expect(formatStatus(snapshot)).not.toContain('(not polled)');
  });
});
