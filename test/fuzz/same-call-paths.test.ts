// One call, every way it can reach the raw topics (README: "every call is counted once, whichever way its CDR reaches
// cdrflow"): each drawn vendor record goes through each path its vendor has, in process, and is normalized. Every path
// must key it to the same cdr_id and map it to the same row, but for what says how and when it arrived (received_at,
// ingest_mode, the raw lineage) and the envelope attributes a path alone sets; what one path takes, another must not
// refuse. Paths: Huawei push (receiver) and import (a whole push body, or one FeeInfo a line); LVMS receiver (form
// body with a json or an xml answer, or the query string) and import (the DTO, or the DTO as a JSON string as TOP logs
// it); CCC and TRTC the live poller and backfill (one reader, modes apart), over a stand-in vendor answer.
// Replay: CDRFLOW_FUZZ_SAMEPATH_ONLY=<seed>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../../connectors/push-vendors.ts';
import type { RunningReceiver } from '../../connectors/receiver/receiver.ts';
import { MemorySink } from '../../connectors/receiver/fixtures/memory-sink.ts';
import { MemorySink as PollSink, memoryPollContext } from '../../connectors/poller/fixtures/memory.ts';
import { silentLog } from '../../core/log.ts';
import { buildAuthHeaders } from '../../connectors/huawei-privatenumber/aksk.ts';
import type { HuaweiApp } from '../../connectors/huawei-privatenumber/config.ts';
import { envelopesFromLine } from '../../connectors/file-import/import.ts';
import { readWindow } from '../../connectors/poller/reader.ts';
import { createCccSource } from '../../connectors/tencent-ccc/source.ts';
import type { CccApiClient } from '../../connectors/tencent-ccc/client.ts';
import { cccConfigSchema } from '../../connectors/tencent-ccc/config.ts';
import { createTrtcSource } from '../../connectors/tencent-trtc/source.ts';
import { trtcConfigSchema } from '../../connectors/tencent-trtc/config.ts';
import { HuaweiFeeGenerator, huaweiTime } from '../../simulators/huawei-privatenumber/generator.ts';
import { LvmsDtoGenerator, signedParams } from '../../simulators/alibaba-lvms/submitter.ts';
import { CccDataset } from '../../simulators/tencent-ccc/dataset.ts';
import { TrtcDataset } from '../../simulators/tencent-trtc/dataset.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';
import { defaultNormalizeContext, normalize } from '../../transforms/normalize/index.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { MAX_NATURAL_KEY_BYTES } from '../../core/input-limits.ts';
import { campaignSeeds } from './seeds.ts';

const { seeds } = campaignSeeds('SAMEPATH', 40);

/** What says how and when a record arrived: the only columns allowed to differ between paths. */
const ARRIVAL = ['received_at', 'ingest_mode', 'raw_topic', 'raw_partition', 'raw_offset'] as const;

const HUAWEI: HuaweiApp = { appKey: 'hwSamePath', appSecret: 'hwSamePathSecret', mode: 'AXB' };
const LVMS = { appKey: 'lvmsSamePath', appSecret: 'lvmsSamePathSecret' };
const DAY = 86_400_000;

let receiver: RunningReceiver;
const sink = new MemorySink();
beforeAll(async () => {
  receiver = await startReceiver(
    { port: 0, huawei: { apps: [HUAWEI], topics: { fee: 't.fee', events: 't.events' } }, lvms: { apps: [LVMS], topic: 't.lvms' } },
    { sink, log: silentLog },
  );
});
afterAll(() => receiver.stop());

type PathResult = { path: string; envelopes: RawEnvelope[] } | { path: string; refused: string };

/** The envelopes a request published, or its answer when it published none. */
async function viaReceiver(path: string, init: RequestInit & { url?: string }): Promise<PathResult> {
  const before = sink.published.length;
  const res = await fetch(init.url ?? `${receiver.url}${path}`, init);
  const body = await res.text();
  const envelopes = sink.published.slice(before).flatMap((p) => p.envelopes);
  if (res.status !== 200 || envelopes.length === 0 || /error_response/.test(body)) return { path, refused: `${res.status} ${body}` };
  return { path, envelopes };
}

function viaImport(path: string, vendor: 'huawei-privatenumber' | 'alibaba-lvms', line: string, receivedAt: Date): PathResult {
  const r = envelopesFromLine(line, 1, { vendor, tenant: vendor === 'alibaba-lvms' ? LVMS.appKey : undefined, file: 'f.jsonl', requestId: 'import-1', receivedAt, huaweiApps: [HUAWEI] });
  return r.ok ? { path, envelopes: r.envelopes } : { path, refused: r.reason };
}

function row(envelope: RawEnvelope): { cdr_id: string | null; row: Record<string, unknown> | string } {
  const result = normalize(envelope, defaultNormalizeContext());
  if (!result.ok) return { cdr_id: result.error.cdr_id, row: `bad_record: ${result.error.message}` };
  const cdr = Object.fromEntries(Object.entries(result.cdr).filter(([f]) => !(ARRIVAL as readonly string[]).includes(f)));
  return { cdr_id: result.cdr.cdr_id, row: cdr };
}

/** Every path of one batch of records, each record's rows side by side: all paths take it, alike. */
function expectAlike(results: PathResult[], count: number, label: string): void {
  const refused = results.filter((r): r is { path: string; refused: string } => 'refused' in r);
  const taken = results.filter((r): r is { path: string; envelopes: RawEnvelope[] } => 'envelopes' in r);
  // A record one path takes is not refused by another (all refusing alike is one rule, held elsewhere).
  if (taken.length > 0) expect(refused, label).toEqual([]);
  if (taken.length === 0) return;
  for (const r of taken) expect(r.envelopes.length, `${label} ${r.path}`).toBe(count);
  const [first, ...rest] = taken;
  const want = first!.envelopes.map((e) => ({ tenant_id: e.tenant_id, natural_key: e.natural_key, ...row(e) }));
  for (const r of rest) {
    const got = r.envelopes.map((e) => ({ tenant_id: e.tenant_id, natural_key: e.natural_key, ...row(e) }));
    expect(got, `${label}: ${r.path} against ${first!.path}`).toEqual(want);
  }
}

// ---- Huawei: pushed, imported as its push body, imported one FeeInfo a line ----

/** Edge values a FeeInfo may carry (all strings in Huawei's table, optional fields empty, midnight UTC times). */
function huaweiEdges(rng: Rng, record: Record<string, string | number>, i: number): Record<string, string | number> {
  const r = { ...record };
  switch (rng.int(0, 7)) {
    case 0: {
      // The whole call moved to start at UTC midnight (Huawei times are naive UTC).
      const delta = Math.floor(Date.now() / DAY) * DAY - DAY - Date.parse(`${String(r['callInTime'])}Z`);
      for (const [f, v] of Object.entries(r)) if (f.endsWith('Time') && typeof v === 'string' && v !== '') r[f] = huaweiTime(Date.parse(`${v}Z`) + delta);
      break;
    }
    case 1: // the longest key the door takes, and non-ASCII text
      r['sessionId'] = `${i}-会话-`.padEnd(MAX_NATURAL_KEY_BYTES / 3, 'é').slice(0, MAX_NATURAL_KEY_BYTES / 3);
      break;
    case 2: // optional fields empty
      for (const f of ['recordDomain', 'recordObjectName', 'recordBucketName', 'userData', 'fwdDisplayNum']) if (f in r) r[f] = '';
      break;
    case 3: // no sessionId: keyed by icid at the door, dead-lettered by normalize (MAPPING.md), alike on every path
      r['sessionId'] = '';
      r['icid'] = `icid-${rng.hex(16)}`;
      break;
    case 4:
      r['userData'] = '用户数据 👍 "quoted" \\ /';
      break;
    default:
      break;
  }
  return r;
}

describe.each(seeds)('seed %i: one call, every path', (seed) => {
  it('Huawei: push, import of the push body, import of each FeeInfo alone', async () => {
    const rng = new Rng(seededRandom(seed));
    const gen = new HuaweiFeeGenerator({ seed, appKey: HUAWEI.appKey, startMs: Date.now() - 2 * DAY + rng.int(0, DAY) });
    const records = gen.batch(rng.int(1, 4)).map((r, i) => huaweiEdges(rng, r, seed * 10 + i));
    const body = JSON.stringify({ eventType: 'fee', feeLst: records });
    const push = await viaReceiver('push', {
      url: `${receiver.url}/huawei/privatenumber/fee`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...buildAuthHeaders(HUAWEI.appKey, HUAWEI.appSecret) },
      body,
    });
    const later = new Date(Date.now() + 60_000);
    const results = [push, viaImport('import body', 'huawei-privatenumber', body, later)];
    const singles = records.map((r) => viaImport('import line', 'huawei-privatenumber', JSON.stringify(r), later));
    const refusedSingle = singles.find((s) => 'refused' in s);
    results.push(refusedSingle ?? { path: 'import lines', envelopes: singles.flatMap((s) => ('envelopes' in s ? s.envelopes : [])) });
    expectAlike(results, records.length, `seed ${seed} huawei ${body}`);
  });

  it('LVMS: receiver (json, xml, query string) and import (object, JSON string)', async () => {
    const rng = new Rng(seededRandom(seed ^ 0x5a5a));
    const gen = new LvmsDtoGenerator({ seed, noIdRate: 0.2, startMs: Date.now() - 2 * DAY + rng.int(0, DAY) });
    let dto = gen.next();
    const fields = JSON.parse(dto) as Record<string, unknown>;
    const id = /^\{"call_record_id":(\d+),/.exec(dto)?.[1];
    switch (rng.int(0, 6)) {
      case 0: // the id as a digit string (some TOP clients quote longs)
        if (id !== undefined) dto = dto.replace(`"call_record_id":${id}`, `"call_record_id":"${id}"`);
        break;
      case 1: {
        // The call moved to start at midnight Beijing time (16:00 UTC the day before), its length kept.
        const naive = (t: string) => Date.parse(`${t.replace(' ', 'T')}Z`);
        const length = naive(String(fields['end_time'])) - naive(String(fields['start_time']));
        const midnight = Math.floor(Date.now() / DAY) * DAY - DAY;
        const at = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
        dto = dto.replace(/"start_time":"[^"]*"/, `"start_time":"${at(midnight)}"`).replace(/"end_time":"[^"]*"/, `"end_time":"${at(midnight + length)}"`);
        break;
      }
      case 2: // empty optional fields
        dto = dto.replace(/"(name|full_audio_url|properties|intent_level_detail_name)":"(?:[^"\\]|\\.)*"/g, '"$1":""');
        break;
      case 3: // unicode, escaped and not
        dto = dto.replace(/"name":"[^"]*"/, `"name":"${rng.pick(['\\u5f20\\u4e09', '😀 Zoë', 'a\\"b\\\\c', '\\ud83d\\ude00'])}"`);
        break;
      case 4: // no id: the composite key, a long called number
        dto = JSON.stringify({ ...fields, call_record_id: undefined, called_phone_number: `+86${'1'.repeat(rng.int(10, 60))}` });
        break;
      default:
        break;
    }
    // Each path is a call of its own, signed anew (another second): the same sign twice would be refused as a replay.
    // Seconds counted back from one clock reading: read per call, a later call's second minus one could be an earlier
    // call's second again (the TOP timestamp has whole seconds).
    let sent = 0;
    const signedAt = Date.now();
    const form = (format: 'json' | 'xml', inQuery = false): RequestInit & { url: string } => {
      const params = signedParams({ ...LVMS, dto, format, nowMs: signedAt - 1000 * sent++ });
      return {
        url: `${receiver.url}/router/rest${inQuery ? `?${params.toString()}` : ''}`,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
        body: inQuery ? '' : params.toString(),
      };
    };
    const later = new Date(Date.now() + 60_000);
    const results = [
      await viaReceiver('receiver json', form('json')),
      await viaReceiver('receiver xml', form('xml')),
      await viaReceiver('receiver query', form('json', true)),
      viaImport('import object', 'alibaba-lvms', dto, later),
      viaImport('import string', 'alibaba-lvms', JSON.stringify(dto), later),
    ];
    expectAlike(results, 1, `seed ${seed} lvms ${dto}`);
  });

  it('CCC and TRTC: live poller and backfill over the same vendor answer', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const window = { start: nowSec - 3 * 3600, end: nowSec - 3600 };
    const ccc = new CccDataset({ seed, sdkAppIds: [1400000001], lateFraction: 0 });
    const cccRecords = ccc.generateRange(window.start, window.end, 3).map((s) => s.record);
    const trtc = new TrtcDataset({ seed, sdkAppIds: [1600000001], lateFraction: 0 });
    const trtcRecords = trtc.generateRange(window.start, window.end, 3).map((s) => s.record);

    const answer = (records: unknown[]) => (page: number, size: number) => ({ total: records.length, records: records.slice(page * size, (page + 1) * size) });
    const cccPage = answer(cccRecords);
    const cccClient = {
      async describeProtectedTelCdr(req: { pageNumber: number; pageSize: number }) {
        return { totalCount: cccRecords.length, records: cccPage(req.pageNumber, req.pageSize).records, requestId: `ccc-${req.pageNumber}` };
      },
    } as unknown as CccApiClient;
    const cccSource = createCccSource(cccConfigSchema.parse({ secretId: 'id', secretKey: 'key', sdkAppIds: [1400000001], pageSize: 2 }), cccClient);
    const trtcSource = createTrtcSource(trtcConfigSchema.parse({ baseUrl: 'http://127.0.0.1:9', apps: [{ sdkAppId: 1600000001, secretKey: 'k', api: 'v1' }], pageSize: 2 }));
    const trtcPage = answer(trtcRecords);
    trtcSource.fetchPage = async (_t, _w, page, size) => ({ ...trtcPage(page - 1, size), requestId: `trtc-${page}` });

    for (const [source, count] of [[cccSource, cccRecords.length], [trtcSource, trtcRecords.length]] as const) {
      const results: PathResult[] = [];
      for (const mode of ['live', 'backfill'] as const) {
        const out = new PollSink();
        await readWindow(memoryPollContext(source, out, { mode }), source.tenants[0]!, window);
        expect(out.deadLetters, `${source.vendor} ${mode}`).toEqual([]);
        results.push({ path: mode, envelopes: out.envelopes });
      }
      expectAlike(results, count, `seed ${seed} ${source.vendor}`);
    }
  });
});
