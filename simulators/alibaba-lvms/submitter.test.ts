import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../connectors/push-vendors.ts';
import { type RunningReceiver } from '../../connectors/receiver/receiver.ts';
import { MemorySink } from '../../connectors/receiver/fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { LvmsDtoGenerator, readTopAnswer, startLvmsSubmitter } from './submitter.ts';
import { checkLvmsDto, lvmsNaturalKey } from '../../core/records/lvms-key.ts';

const APP = { appKey: '23456789', appSecret: 'lvms-secret' };
const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

describe('LvmsDtoGenerator', () => {
  it('is reproducible, keys every DTO (some by composite), and keeps long ids exact', () => {
    const a = Array.from({ length: 200 }, (g => () => g.next())(new LvmsDtoGenerator({ seed: 11, noIdRate: 0.2 })));
    const b = Array.from({ length: 200 }, (g => () => g.next())(new LvmsDtoGenerator({ seed: 11, noIdRate: 0.2 })));
    expect(a).toEqual(b);
    const keys = a.map((d) => lvmsNaturalKey(d));
    expect(keys.every((k) => k !== undefined)).toBe(true);
    expect(keys.some((k) => k!.source === 'composite')).toBe(true);
    expect(new Set(keys.map((k) => k!.key)).size).toBe(200);
    const long = keys.find((k) => k!.source === 'call_record_id' && BigInt(k!.key) > BigInt(Number.MAX_SAFE_INTEGER));
    expect(long).toBeDefined();
    expect(a.every((d) => checkLvmsDto(d).ok)).toBe(true);
  });

  it('keeps every call_record_id a Java long (TOP Number), whatever the seed', () => {
    // Seeds whose last three digits are 223 or more used to write ids above 9223372036854775807.
    for (const seed of [0, 222, 223, 456, 999, 2_147_483_647]) {
      const generator = new LvmsDtoGenerator({ seed, noIdRate: 0 });
      const ids = Array.from({ length: 30 }, () => BigInt(/"call_record_id":(\d+)/.exec(generator.next())![1]!));
      expect(ids.filter((id) => id > 2n ** 63n - 1n), `seed ${seed}`).toEqual([]);
      expect(ids.some((id) => id > BigInt(Number.MAX_SAFE_INTEGER)), `seed ${seed}`).toBe(true);
    }
  });
});

describe('readTopAnswer', () => {
  it('reads both formats', () => {
    expect(readTopAnswer('<error_response><code>25</code><msg>Invalid Signature</msg><sub_code>isv.invalid-signature</sub_code></error_response>')).toEqual({ success: false, code: '25', subCode: 'isv.invalid-signature' });
    expect(readTopAnswer('{"error_response":{"code":10,"sub_code":"isp.x"}}')).toEqual({ success: false, code: '10', subCode: 'isp.x' });
  });
});

describe('startLvmsSubmitter', () => {
  it('signs all three ways, alternates json/xml, retries 503s, and every record is stored once Kafka is back', async () => {
    const sink = new MemorySink();
    const r = await startReceiver({ port: 0, lvms: { apps: [APP], topic: 'lvms' } }, { sink, log: silentLog });
    running.push(r);
    sink.failing = true;
    const submitter = startLvmsSubmitter({ url: `${r.url}/router/rest`, ...APP, seed: 4, totalRecords: 60, recordsPerSecond: 2000 });
    while (submitter.stats().retries < 5) await new Promise((res) => setTimeout(res, 5));
    sink.failing = false;
    const stats = await submitter.done;
    expect(stats).toMatchObject({ accepted: 60, rejected: 0, failedAfterRetries: 0 });
    expect(stats.bySignMethod).toEqual({ md5: 20, hmac: 20, 'hmac-sha256': 20 });
    const stored = sink.envelopes('lvms');
    expect(stored.map((e) => e.payload).sort()).toEqual(submitter.acceptedDtos().sort());
    expect(new Set(stored.map((e) => e.attributes['sign_method']))).toEqual(new Set(['md5', 'hmac', 'hmac-sha256']));
    expect(new Set(stored.map((e) => e.attributes['format']))).toEqual(new Set(['json', 'xml']));
  });
});
