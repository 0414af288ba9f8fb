// The stage counters add up: what a stage took is what it wrote, dead-lettered, skipped or found stored already.
import { describe, expect, it } from 'vitest';
import { AppMetrics } from './metrics.ts';

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
