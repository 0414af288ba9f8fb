// A Huawei call that reaches the raw topic twice, once pushed to the receiver and once by `cdrflow import` (Huawei
// support re-sending a CDR file), must land on the same cdr_id and map to the same row: the import's copy is the newer
// version (its received_at), so whatever it maps differently is what ClickHouse keeps.
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../push-vendors.ts';
import type { RunningReceiver } from '../receiver/receiver.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { buildAuthHeaders } from '../huawei-privatenumber/aksk.ts';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import type { HuaweiApp } from '../huawei-privatenumber/config.ts';
import { defaultNormalizeContext, normalize } from '../../transforms/normalize/index.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { envelopesFromLine } from './import.ts';

const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function pushed(app: HuaweiApp, body: string): Promise<{ status: number; envelopes: RawEnvelope[] }> {
  const sink = new MemorySink();
  const r = await startReceiver({ port: 0, huawei: { apps: [app], topics: { fee: 't.fee', events: 't.events' } } }, { sink, log: silentLog });
  running.push(r);
  const res = await fetch(`${r.url}/huawei/privatenumber/fee`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...buildAuthHeaders(app.appKey, app.appSecret) },
    body,
  });
  return { status: res.status, envelopes: sink.envelopes() };
}

function imported(app: HuaweiApp, line: string, receivedAt: Date) {
  return envelopesFromLine(line, 1, { vendor: 'huawei-privatenumber', file: 'resent.jsonl', requestId: 'import-1', receivedAt, huaweiApps: [app] });
}

function mapped(envelope: RawEnvelope) {
  const result = normalize(envelope, defaultNormalizeContext());
  if (!result.ok) throw new Error(`not normalized: ${JSON.stringify(result)}`);
  return { cdr_id: result.cdr.cdr_id, tenant_id: result.cdr.tenant_id, direction: result.cdr.direction, binding_mode: result.cdr.extras['binding_mode'] ?? null };
}

describe('a Huawei call pushed and imported', () => {
  it('keys, attributes and maps alike: the app binding mode goes with the record either way', async () => {
    // X mode binds no A, so its direction is UNKNOWN; read without the mode, 0/1 would be INBOUND/OUTBOUND.
    const app: HuaweiApp = { appKey: 'hwModeX', appSecret: 'hwSecretX', mode: 'X' };
    const records = new HuaweiFeeGenerator({ seed: 7, appKey: app.appKey }).batch(6).filter((r) => r['direction'] === 0 || r['direction'] === 1);
    expect(records.length).toBeGreaterThan(0);
    const body = JSON.stringify({ eventType: 'fee', feeLst: records });

    const push = await pushed(app, body);
    expect(push.status).toBe(200);
    const line = imported(app, body, new Date(push.envelopes[0]!.received_at.getTime() + 60_000));
    if (!line.ok) throw new Error(line.reason);

    expect(line.envelopes.map((e) => [e.tenant_id, e.natural_key])).toEqual(push.envelopes.map((e) => [e.tenant_id, e.natural_key]));
    expect(line.envelopes.map(mapped)).toEqual(push.envelopes.map(mapped));
    expect(push.envelopes.map(mapped).every((c) => c.direction === 'UNKNOWN')).toBe(true);
  });

  it('is refused by both when it carries U+FFFD (bytes lost before it reached us), with the same words', async () => {
    const app: HuaweiApp = { appKey: 'hwLost', appSecret: 'hwSecretL' };
    const [record] = new HuaweiFeeGenerator({ seed: 3, appKey: app.appKey }).batch(1);
    const body = JSON.stringify({ eventType: 'fee', feeLst: [{ ...record, fwdDisplayNum: '+86138\uFFFD0000' }] });

    const push = await pushed(app, body);
    expect(push).toEqual({ status: 400, envelopes: [] });
    const line = imported(app, body, new Date());
    expect(line).toEqual({ ok: false, reason: expect.stringContaining('U+FFFD') });
  });

  it('a record with no id (keyed by its text) gets the same key and payload whether pushed or imported with blanks around its line', async () => {
    // Such a record is dead-lettered by normalize, once per key: the blanks a file kept around it made it a second key.
    const app: HuaweiApp = { appKey: 'hwBlank', appSecret: 'hwSecretB' };
    const [record] = new HuaweiFeeGenerator({ seed: 5, appKey: app.appKey }).batch(1);
    const { sessionId: _s, icid: _i, ...keyless } = record!;
    const text = JSON.stringify(keyless);

    const push = await pushed(app, JSON.stringify({ eventType: 'fee', feeLst: [keyless] }));
    expect(push.status).toBe(200);
    expect(push.envelopes[0]!.attributes['key_source']).toBe('payload-sha256');
    const line = imported(app, ` \t${text}  \t`, new Date());
    if (!line.ok) throw new Error(line.reason);
    expect(line.envelopes.map((e) => [e.natural_key, e.payload])).toEqual(push.envelopes.map((e) => [e.natural_key, e.payload]));
  });
});
