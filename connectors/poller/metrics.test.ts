import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { PollerMetrics } from './metrics.ts';

describe('PollerMetrics', () => {
  it('keeps plain counts and mirrors them into a passed prom-client registry, shared by several connectors', async () => {
    const registry = new Registry();
    const ccc = new PollerMetrics('tencent-ccc', registry, ['1', '2']);
    const trtc = new PollerMetrics('tencent-trtc', registry);
    ccc.page({ tenant: '1', mode: 'live' }, 100);
    ccc.page({ tenant: '1', mode: 'live' }, 0);
    ccc.unchanged('1', 250);
    ccc.recentKeys(100);
    ccc.apiError('RequestLimitExceeded');
    ccc.retry('RequestLimitExceeded');
    trtc.gap('9', 3600);
    trtc.window({ tenant: '9', mode: 'live' }, 1_700_000_000);
    expect(ccc.counts).toMatchObject({ pages: 2, records: 100, unchanged: 250, retries: 1, apiErrors: { RequestLimitExceeded: 1 } });
    const text = await registry.metrics();
    expect(text).toContain('cdrflow_poller_records_total{vendor="tencent-ccc",tenant="1",mode="live"} 100');
    expect(text).toContain('cdrflow_poller_records_unchanged_total{vendor="tencent-ccc",tenant="1"} 250');
    expect(text).toContain('cdrflow_poller_recent_keys{vendor="tencent-ccc"} 100');
    expect(text).toContain('cdrflow_poller_pages_total{vendor="tencent-ccc",tenant="1",mode="live"} 2');
    expect(text).toContain('cdrflow_poller_api_errors_total{vendor="tencent-ccc",code="RequestLimitExceeded"} 1');
    expect(text).toContain('cdrflow_poller_gap_seconds_total{vendor="tencent-trtc",tenant="9"} 3600');
    // Known tenants start at zero before their first event.
    expect(text).toContain('cdrflow_poller_records_total{vendor="tencent-ccc",tenant="2",mode="live"} 0');
    expect(text).toContain('cdrflow_poller_dead_letters_total{vendor="tencent-ccc",tenant="2"} 0');
    expect(text).toContain('cdrflow_poller_watermark_timestamp_seconds{vendor="tencent-trtc",tenant="9",mode="live"} 1700000000');
  });
});
