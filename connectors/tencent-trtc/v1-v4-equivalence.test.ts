// One dataset, two APIs: every call the simulator holds is read through a v1 app and through a v4 app (the real
// connector source, over loopback HTTP with UserSig), wrapped in envelopes the way the poller wraps them, normalized
// and turned into ClickHouse rows. The rows must be identical except lineage, and except the one field each API
// alone reports (v1 totalUserNumber, v4 RoomIdType), which stays in `extras` under its own name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawEnvelope } from '../../core/envelope.ts';
import { parseNormalizeOptions } from '../../transforms/normalize/config.ts';
import { normalize } from '../../transforms/normalize/normalize.ts';
import { cdrObject } from '../../sinks/clickhouse/rows.ts';
import { trtcConfigSchema } from './config.ts';
import { createTrtcSource } from './source.ts';
import { startTrtcSimulator, type TrtcSimulator } from '../../simulators/tencent-trtc/index.ts';

const APP = 1600000001;
const KEY = 'trtc-secret-key';
const LINEAGE_COLUMNS = ['raw_topic', 'raw_partition', 'raw_offset', 'received_at', 'ingest_mode', 'source_topic', 'source_partition', 'source_offset', 'version'];
const API_ONLY_EXTRAS = { v1: ['totalUserNumber'], v4: ['RoomIdType'] } as const;

let sim: TrtcSimulator;
const nowSec = Math.floor(Date.now() / 1000);
const window = { start: nowSec - 6 * 3600, end: nowSec - 3600 };

beforeAll(async () => {
  sim = await startTrtcSimulator({ apps: { [APP]: KEY }, seed: 41, lateFraction: 0 });
  sim.dataset.generateRange(window.start, window.end, 400);
});
afterAll(() => sim.stop());

/** Every page of the window through one API, as raw envelopes keyed like the poller keys them. */
async function readAll(api: 'v1' | 'v4', pageSize: number): Promise<Map<string, RawEnvelope>> {
  const config = trtcConfigSchema.parse({ baseUrl: sim.url, apps: [{ sdkAppId: APP, secretKey: KEY, api }], timeoutMs: 5000 });
  const source = createTrtcSource(config);
  const out = new Map<string, RawEnvelope>();
  const signal = new AbortController().signal;
  for (let page = source.firstPage; ; page++) {
    const res = await source.fetchPage(String(APP), window, page, pageSize, signal);
    for (const record of res.records) {
      const key = source.naturalKey(record)!;
      out.set(key, {
        vendor: 'tencent-trtc',
        tenant_id: String(APP),
        natural_key: key,
        // After the calls (the consistency rules refuse a call more than a day after its receipt), apart per API.
        received_at: new Date(Date.now() + (api === 'v1' ? 1_000 : 2_000)),
        connector: source.connector,
        mode: 'live',
        request_id: res.requestId,
        payload: JSON.stringify(record),
        payload_format: 'json',
        attributes: { ...source.envelopeAttributes?.(String(APP)), page: String(page) },
      });
    }
    if (res.records.length === 0 || page * pageSize >= res.total) break;
  }
  return out;
}

function row(envelope: RawEnvelope, offset: number) {
  // Normalized as it arrives: the clock only bounds received_at (nothing arrives from the future).
  const ctx = { now: () => envelope.received_at, lineage: { topic: `raw-${envelope.attributes['api_version']}`, partition: 0, offset }, options: parseNormalizeOptions({}) };
  const result = normalize(envelope, ctx);
  if (!result.ok) throw new Error(`${envelope.natural_key}: ${result.error.message}`);
  return cdrObject(result.cdr, { topic: 'cdr.normalized', partition: 0, offset });
}

describe('TRTC v1 and v4 read the same calls into the same rows', () => {
  it('reads every call through both APIs, each envelope naming its API', async () => {
    const [v1, v4] = await Promise.all([readAll('v1', 100), readAll('v4', 37)]);
    expect(v1.size).toBe(400);
    expect([...v4.keys()].sort()).toEqual([...v1.keys()].sort());
    expect([...v1.values()].every((e) => e.attributes['api_version'] === 'v1' && 'callId' in JSON.parse(e.payload))).toBe(true);
    expect([...v4.values()].every((e) => e.attributes['api_version'] === 'v4' && 'CallId' in JSON.parse(e.payload))).toBe(true);

    const results = new Set<unknown>();
    let i = 0;
    for (const [key, e1] of v1) {
      const a = row(e1, i);
      const b = row(v4.get(key)!, i + 1_000_000);
      i++;
      results.add(a['end_status']);
      const strip = (r: Record<string, unknown>, api: 'v1' | 'v4') => {
        const kept = Object.entries(r).filter(([c]) => !LINEAGE_COLUMNS.includes(c));
        const extras = Object.entries(r['extras'] as Record<string, string>).filter(([k]) => !(API_ONLY_EXTRAS[api] as readonly string[]).includes(k));
        return { ...Object.fromEntries(kept), extras: Object.fromEntries(extras) };
      };
      expect(strip(b, 'v4'), key).toEqual(strip(a, 'v1'));
      // Lineage does differ, and each API-only field is really there.
      expect(a['raw_topic']).not.toBe(b['raw_topic']);
      expect(Object.keys(a['extras'] as object)).toContain('totalUserNumber');
      expect(Object.keys(b['extras'] as object)).toContain('RoomIdType');
      expect(a['room_id']).not.toBeNull();
    }
    // The dataset spreads over every result, so every code pair (v1 snake_case, v4 PascalCase) was compared.
    expect(results.size).toBeGreaterThanOrEqual(6);
  });
});
