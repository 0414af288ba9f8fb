import { describe, expect, it } from 'vitest';
import type { RawEnvelope } from '../../core/envelope.ts';
import { defaultNormalizeContext } from './context.ts';
import { normalizeLine } from './lines.ts';
import { MAPPING_VERSION, normalize, normalizeBare } from './normalize.ts';
import { rawEnvelope } from './fixtures/envelope.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const ctx = defaultNormalizeContext({ now: () => NOW });
const trtc = { callId: 'c-1', sdkAppId: 1600000001, callResult: 'normal_end', startCallTs: 1764547200, acceptTs: 1764547205, endTs: 1764547266, caller: 'a', callees: ['b'] };

function envelope(overrides: Partial<RawEnvelope> = {}): RawEnvelope {
  return rawEnvelope({
    vendor: 'tencent-trtc',
    tenant_id: '1600000001',
    natural_key: 'c-1',
    received_at: new Date('2025-12-01T00:02:00Z'),
    connector: 'tencent-trtc-poller',
    request_id: 'r-1',
    payload: JSON.stringify(trtc),
    ...overrides,
  });
}

describe('normalize', () => {
  it('stamps identity, lineage and mapping version from the envelope and context', () => {
    const r = normalize(envelope(), { ...ctx, lineage: { topic: 'cdr.raw.tencent-trtc', partition: 1, offset: 99 } });
    expect(r.ok && r.cdr).toMatchObject({
      cdr_id: 'tencent-trtc:1600000001:c-1',
      raw_topic: 'cdr.raw.tencent-trtc',
      raw_partition: 1,
      raw_offset: 99,
      received_at: new Date('2025-12-01T00:02:00Z'),
      ingest_mode: 'live',
      mapping_version: MAPPING_VERSION,
      talk_seconds: 61,
      billable_seconds: 120,
    });
  });

  // A dead letter's reason is stored in ClickHouse (cdr_dead_letters.error_message), where a PII key promises no
  // number in clear: a record that is no object (a bare number, a record sent as a JSON string) is named by its type.
  it('names a record that is no JSON object by its type, never quoting it (it can be a number, or a record as text)', () => {
    const lvms = { ...ctx, options: { ...ctx.options, piiKey: 'normalize-test-pii-key-0123' } };
    const reasons = ['13800138000', '"+8613800138000"', JSON.stringify(JSON.stringify({ called_phone_number: '13800138000' })), 'true', 'null'].map((text) => {
      const r = normalizeBare('alibaba-lvms', 'app', text, lvms);
      return r.ok ? 'mapped' : r.error.message;
    });
    expect(reasons).toEqual([
      'expected a JSON object, got a number',
      'expected a JSON object, got a string',
      'expected a JSON object, got a string',
      'expected a JSON object, got a boolean',
      'expected a JSON object, got null',
    ]);
  });

  it('returns bad_record values, with the cdr_id when the envelope knows it', () => {
    expect(normalize(envelope({ payload: '{"callId":' }), ctx)).toEqual({
      ok: false,
      error: { kind: 'bad_record', message: expect.stringMatching(/^malformed JSON/), cdr_id: 'tencent-trtc:1600000001:c-1' },
    });
    expect(normalize(envelope({ payload: 'null' }), ctx)).toMatchObject({ ok: false, error: { message: 'expected a JSON object, got null' } });
    expect(normalize(envelope({ payload_format: 'xml' }), ctx)).toEqual({
      ok: false,
      error: { kind: 'bad_record', message: 'payload_format "xml" is not supported (json only)', cdr_id: 'tencent-trtc:1600000001:c-1' },
    });
    expect(normalize(envelope({ vendor: 'acme' as never }), ctx)).toMatchObject({ ok: false, error: { message: 'unknown vendor "acme"' } });
    // Without a tenant the envelope knows no cdr_id.
    expect(normalize(envelope({ tenant_id: '' }), ctx)).toEqual({ ok: false, error: { kind: 'bad_record', message: 'envelope has an empty tenant_id', cdr_id: null } });
  });

  it('names a record its mapper refuses by the cdr_id its row would have had: the envelope\'s key, as reconcile counts it', () => {
    // A mapper keys by the record's own id; the row is keyed by the envelope's (the Kafka key). A dead letter named
    // otherwise (or not at all) is not found under the call's cdr_id, beside the row a corrected version makes.
    const trtcBad = envelope({ payload: JSON.stringify({ ...trtc, startCallTs: 'soon' }) });
    const huaweiBad = envelope({
      vendor: 'huawei-privatenumber',
      tenant_id: 'hwApp',
      natural_key: ' hs-1 ',
      payload: JSON.stringify({ sessionId: ' hs-1 ', callInTime: 'yesterday' }),
    });
    const lvmsBad = envelope({ vendor: 'alibaba-lvms', tenant_id: 'lv', natural_key: '0042', payload: '{"call_record_id":42,"start_time":"soon"}' });
    expect([trtcBad, huaweiBad, lvmsBad].map((e) => {
      const r = normalize(e, ctx);
      return r.ok ? 'mapped' : r.error.cdr_id;
    })).toEqual(['tencent-trtc:1600000001:c-1', 'huawei-privatenumber:hwApp: hs-1 ', 'alibaba-lvms:lv:0042']);
  });

  it('dead-letters a record whose timestamps are implausible (its durations would not fit the Avro int either)', () => {
    const huge = { ...trtc, acceptTs: 1, endTs: 253402300000, startCallTs: 1 };
    expect(normalize(envelope({ payload: JSON.stringify(huge) }), ctx)).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/^consistency rule time-range: started_at \(startCallTs\) 1970-01-01T00:00:01.000Z is before/), cdr_id: 'tencent-trtc:1600000001:c-1' },
    });
  });

  it('dead-letters a vendor duration that does not fit the Avro int instead of failing at encode time', () => {
    const ccc = { SessionId: 's-1', StartTimestamp: 1764547200, EndedTimestamp: 1764547260, IVRDuration: 3_000_000_000, EndStatus: 102 };
    const e = envelope({ vendor: 'tencent-ccc', tenant_id: '1400000001', natural_key: 's-1', payload: JSON.stringify(ccc) });
    expect(normalize(e, ctx)).toMatchObject({ ok: false, error: { message: 'ivr_seconds = 3000000000 does not fit an Avro int' } });
  });

  it('takes the tenant of a bare record from the record, else from the caller, and refuses a contradiction', () => {
    const text = JSON.stringify(trtc);
    expect(normalizeBare('tencent-trtc', null, text, ctx)).toMatchObject({ ok: true, cdr: { tenant_id: '1600000001', received_at: NOW, ingest_mode: 'import' } });
    expect(normalizeBare('tencent-trtc', '1600000001', text, ctx)).toMatchObject({ ok: true });
    expect(normalizeBare('tencent-trtc', '42', text, ctx)).toMatchObject({ ok: false, error: { message: 'record belongs to tenant 1600000001, not to the requested tenant 42' } });
    const noTenant = JSON.stringify({ ...trtc, sdkAppId: undefined });
    expect(normalizeBare('tencent-trtc', null, noTenant, ctx)).toMatchObject({ ok: false });
    expect(normalizeBare('tencent-trtc', '42', noTenant, ctx)).toMatchObject({ ok: true, cdr: { cdr_id: 'tencent-trtc:42:c-1' } });
  });
});

describe('normalizeLine', () => {
  it('recognises envelopes (millis or ISO received_at) and bare records', () => {
    const { received_at: _r, ...rest } = envelope();
    const asMillis = JSON.stringify({ ...rest, received_at: 1764547320000 });
    expect(normalizeLine(asMillis, { vendor: 'tencent-trtc', tenant: null }, ctx)).toMatchObject({ ok: true, cdr: { received_at: new Date(1764547320000), ingest_mode: 'live' } });
    const bare = normalizeLine(JSON.stringify(trtc), { vendor: 'tencent-trtc', tenant: null }, ctx);
    expect(bare).toMatchObject({ ok: true, cdr: { received_at: NOW, ingest_mode: 'import' } });
  });

  it('reports a malformed envelope field by path', () => {
    const line = JSON.stringify({ vendor: 'tencent-trtc', tenant_id: '1', payload: '{}', mode: 'sometimes' });
    expect(normalizeLine(line, { vendor: 'tencent-trtc', tenant: null }, ctx)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/^invalid envelope: mode:/) } });
  });
});
