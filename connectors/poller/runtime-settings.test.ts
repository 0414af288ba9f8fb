// The poll settings of a connector's config reach the machinery built from it (runtime.ts): the reader's own tests
// (reader-bound.test.ts) give it maxWindowRecords by hand, so a connector that dropped the setting on the way would
// read every window whole under the default, and no reader test would notice. Likewise recentKeysMaxEntries, which
// reaches the live poller with the rest of the settings object.
import { describe, expect, it } from 'vitest';
import type { Kafka } from '../../core/kafka.ts';
import type { SchemaRegistry } from '../../core/avro.ts';
import { silentLog } from '../../core/log.ts';
import { createCccConnector } from '../tencent-ccc/index.ts';
import { createTrtcConnector } from '../tencent-trtc/index.ts';
import type { PullConnector } from './runtime.ts';
import type { TimeWindow } from './windows.ts';
import { MemorySink } from './fixtures/memory.ts';

const APP = 1400000001;
const WINDOW = { start: 1_700_000_000, end: 1_700_003_600 };
const CALLS = 150;
/**
 * Calls spread evenly over the window, each at an odd second: none in the second the halves share (reader.ts), where
 * one would be counted in both.
 */
const startOf = (i: number) => WINDOW.start + 1 + 24 * i;

/** Nothing here reaches Kafka (survey reads into its own sink); the publisher only makes its producer. */
const deps = { kafka: { producer: () => ({}) } as unknown as Kafka, registry: {} as SchemaRegistry, log: silentLog };

/**
 * Swaps the vendor's page fetch (the connector's own source object, so its natural key and paging stay) for one
 * serving CALLS records by start time, and reads WINDOW as `cdrflow reconcile` does, through the connector's context.
 * Returns the windows the vendor was asked for.
 */
async function readThrough(connector: PullConnector, record: (i: number) => Record<string, unknown>): Promise<{ asked: TimeWindow[]; records: number }> {
  const asked: TimeWindow[] = [];
  const { source } = connector;
  source.fetchPage = async (_tenant, window, page, size) => {
    asked.push(window);
    const inWindow = Array.from({ length: CALLS }, (_, i) => i).filter((i) => startOf(i) >= window.start && startOf(i) <= window.end);
    const from = (page - source.firstPage) * size;
    return { total: inWindow.length, records: inWindow.slice(from, from + size).map(record), requestId: null };
  };
  const result = await connector.survey(String(APP), WINDOW, new MemorySink(), new AbortController().signal);
  return { asked, records: result.records };
}

const ccc = (extra: Record<string, unknown>) => createCccConnector({ secretId: 'AKIDtest', secretKey: 'key', sdkAppIds: [APP], ...extra }, deps);
const trtc = (extra: Record<string, unknown>) => createTrtcConnector({ apps: [{ sdkAppId: APP, secretKey: 'key' }], ...extra }, deps);
const cccCall = (i: number) => ({ SessionId: `session-${i}`, Time: startOf(i) });
const trtcCall = (i: number) => ({ callId: `call-${i}`, startTime: startOf(i) });
const narrower = (w: TimeWindow) => w.end - w.start < WINDOW.end - WINDOW.start;

describe.each([
  ['tencent-ccc', ccc, cccCall],
  ['tencent-trtc', trtc, trtcCall],
] as const)('%s: poll settings from the config reach the reader and the live poller', (_vendor, build, record) => {
  it(`a window of ${CALLS} records over a configured 100 is read in halves, each whole`, async () => {
    const { asked, records } = await readThrough(build({ maxWindowRecords: 100 }), record);
    expect(records).toBe(CALLS);
    expect(asked.filter(narrower).length).toBeGreaterThan(0);
  });

  it('under the default the same window is read whole (what a setting lost on the way would do)', async () => {
    const { asked, records } = await readThrough(build({}), record);
    expect(records).toBe(CALLS);
    expect(asked.filter(narrower)).toEqual([]);
  });

  it('recentKeysMaxEntries 0 from the config turns the live cache off (on by default)', () => {
    expect(build({ recentKeysMaxEntries: 0 }).recentKeys).toBeUndefined();
    expect(build({}).recentKeys).toBeDefined();
  });
});
