// The stage counters add up: what a stage took is what it wrote, dead-lettered, skipped or found stored already.
import { describe, expect, it } from 'vitest';
import { AppMetrics } from './metrics.ts';
import { checkpointIds } from '../core/checkpoints.ts';

describe('AppMetrics.stageCommitted', () => {
  it('counts dead letters the loader found already stored apart from the records out', async () => {
    const m = new AppMetrics();
    m.stageCommitted('dlq-loader', { records: 10, deadLettered: 0, skipped: 1, alreadyStored: 3 });
    const value = async (name: string) => (await m.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels['stage'] === 'dlq-loader')!.value;
    expect(await value('cdrflow_stage_records_in_total')).toBe(10);
    expect(await value('cdrflow_stage_records_out_total')).toBe(6);
    expect(await value('cdrflow_stage_skipped_total')).toBe(1);
    expect(await value('cdrflow_stage_already_stored_total')).toBe(3);
  });
});

describe('AppMetrics.checkpointsRead', () => {
  // The checkpoint topic keeps every backfill range and every tenant ever polled: one series each would stay for the
  // life of the job, and an earlier tenant's live checkpoint would age into CdrflowCheckpointStale for good.
  it('exports the live checkpoints of the tenants the job polls, not backfill ranges or earlier tenants', async () => {
    const m = new AppMetrics();
    const row = (id: string) => ({ id, ageSec: 30, watermarkDelaySec: 300 });
    const live = checkpointIds.live('tencent-ccc', '1400000001');
    const rows = [
      row(live),
      row(checkpointIds.live('tencent-ccc', '1400000009')),
      row(checkpointIds.backfill('tencent-ccc', '1400000001', new Date('2026-01-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'))),
    ];
    m.checkpointsRead(rows, [{ vendor: 'tencent-ccc', tenants: ['1400000001'] }]);
    for (const name of ['cdrflow_checkpoint_age_seconds', 'cdrflow_checkpoint_watermark_delay_seconds']) {
      expect((await m.registry.getSingleMetric(name)!.get()).values.map((v) => v.labels['checkpoint'])).toEqual([live]);
    }
  });
});

describe('AppMetrics.observeInserted', () => {
  // A received_at ahead of the sink's clock (stamped by a clock running ahead, or before this one stepped back) is no
  // latency: observed as 0 it read as a row inserted at once, and the clock problem showed nowhere.
  it('counts a row received ahead of the clock apart, and does not observe it as a latency', async () => {
    const m = new AppMetrics();
    m.observeInserted(
      [
        { vendor: 'alibaba-lvms', received_at: new Date(10_000) },
        { vendor: 'alibaba-lvms', received_at: new Date(60_000) },
        // Half a second ahead: two hosts' synchronised clocks, not a clock problem; observed as 0.
        { vendor: 'alibaba-lvms', received_at: new Date(13_000) },
      ],
      12_500,
    );
    const text = await m.registry.metrics();
    expect(text).toContain('cdrflow_received_to_inserted_seconds_count{vendor="alibaba-lvms"} 2');
    expect(text).toContain('cdrflow_received_to_inserted_seconds_bucket{le="0.1",vendor="alibaba-lvms"} 1');
    expect(text).toContain('cdrflow_received_ahead_of_clock_total{vendor="alibaba-lvms"} 1');
    expect(text).toContain('cdrflow_received_ahead_of_clock_total{vendor="tencent-ccc"} 0');
  });
});
