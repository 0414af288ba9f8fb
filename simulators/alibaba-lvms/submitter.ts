// A robot-call platform submitting records the TOP way: `alibaba.lvms.lvr.receivecallrecord` calls signed with md5,
// hmac and hmac-sha256 in turn, answered in json or xml in turn, at a steady rate, reproducible from a seed.
// Retryable answers (HTTP 5xx, TOP isp.* sub codes, connection errors) are retried with core's backoff.
import { Rng, seededRandom } from '../kit.ts';
import { RETRY, retry } from '../../core/backoff.ts';
import { CdrflowError } from '../../core/errors.ts';
import { signTopParams, topTimestamp, TOP_SIGN_METHODS, type TopSignMethod } from './sign.ts';

// The API's names as its page spells them (vendors.md §3, vendor-docs/alibaba-lvms-receivecallrecord.txt), kept apart
// from the receiver's constants on purpose: a misspelling there would otherwise be sent here too and pass every test.
const METHOD = 'alibaba.lvms.lvr.receivecallrecord';
const DTO_PARAM = 'ivr_call_record_d_t_o';

export interface LvmsCredentials {
  appKey: string;
  appSecret: string;
}

export interface SubmitOptions extends LvmsCredentials {
  url: string;
  /** The ivr_call_record_d_t_o JSON string, sent exactly as given. */
  dto: string;
  signMethod?: TopSignMethod;
  format?: 'json' | 'xml';
  nowMs?: number;
  /** Extra or overriding parameters (tests use this to send broken requests); signed like the rest. */
  params?: Record<string, string>;
  /** Send these parameters in the query string instead of the form body. */
  inQuery?: boolean;
  timeoutMs?: number;
}

export interface SubmitResult {
  status: number;
  body: string;
  /** success = lvms_result_d_t_o.success; otherwise the error_response code/sub_code when one could be read. */
  success: boolean;
  code?: string;
  subCode?: string;
}

/** The signed parameter set of one call (exported so tests can tamper with it). */
export function signedParams(opts: Omit<SubmitOptions, 'url' | 'inQuery' | 'timeoutMs'>): URLSearchParams {
  const params = new Map<string, string>([
    ['method', METHOD],
    ['app_key', opts.appKey],
    ['timestamp', topTimestamp(opts.nowMs ?? Date.now())],
    ['format', opts.format ?? 'json'],
    ['v', '2.0'],
    ['sign_method', opts.signMethod ?? 'hmac-sha256'],
    ['rpc_context', '{}'],
    [DTO_PARAM, opts.dto],
  ]);
  for (const [k, v] of Object.entries(opts.params ?? {})) params.set(k, v);
  params.set('sign', signTopParams(params, opts.appSecret, (params.get('sign_method') ?? 'md5') as TopSignMethod));
  if (opts.params?.['sign'] !== undefined) params.set('sign', opts.params['sign']);
  return new URLSearchParams([...params]);
}

export async function submitLvmsRecord(opts: SubmitOptions): Promise<SubmitResult> {
  const params = signedParams(opts);
  const url = opts.inQuery ? `${opts.url}?${params.toString()}` : opts.url;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    body: opts.inQuery ? '' : params.toString(),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  });
  const body = await res.text();
  return { status: res.status, body, ...readTopAnswer(body) };
}

/** Reads success / error codes from a TOP answer in either format. */
export function readTopAnswer(body: string): { success: boolean; code?: string; subCode?: string; message?: string } {
  if (body.trimStart().startsWith('{')) {
    try {
      const doc = JSON.parse(body) as Record<string, Record<string, unknown> | undefined>;
      const error = doc['error_response'];
      if (error) return { success: false, code: String(error['code']), subCode: String(error['sub_code'] ?? '') };
      const result = (doc['alibaba_lvms_lvr_receivecallrecord_response'] as { lvms_result_d_t_o?: { success?: boolean; code?: string; message?: string } } | undefined)
        ?.lvms_result_d_t_o;
      return {
        success: result?.success === true,
        ...(result?.code === undefined ? {} : { code: result.code }),
        ...(result?.message === undefined ? {} : { message: result.message }),
      };
    } catch {
      return { success: false };
    }
  }
  const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1];
  if (body.includes('<error_response>')) {
    const code = tag('code');
    const subCode = tag('sub_code');
    return { success: false, ...(code === undefined ? {} : { code }), ...(subCode === undefined ? {} : { subCode }) };
  }
  const code = tag('code');
  const message = tag('message');
  return { success: tag('success') === 'true', ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) };
}

export interface LvmsGeneratorOptions {
  seed: number;
  /** Share of DTOs without call_record_id (they get the composite key): left out, null or "", as clients send an unset id. */
  noIdRate?: number;
  /** Share of DTOs that are wrong inside (stored raw, dead-lettered by normalize). */
  malformedRate?: number;
  startMs?: number;
}

/**
 * The 10 `result_status` values as vendors.md §3 "Code tables" lists them (inferred from the tanyibot open API; TOP
 * documents no enum). Spelled out here rather than taken from normalize's table, so that a value misspelt or dropped
 * there is still sent by the stand-in and caught by the tests that normalize what it sends.
 */
export const LVMS_RESULT_STATUSES = [
  'ANSWERED', 'NO_ANSWER', 'BUSY', 'POWER_OFF', 'OUT_OF_SERVICE', 'REFUSED', 'VACANT_NUMBER', 'CAN_NOT_CONNECT',
  'FROM_PHONE_ERROR', 'SYSTEM_ERROR',
] as const;
/** A value outside the documented list, sent now and then: normalize must keep it as an unknown code. */
export const LVMS_UNDOCUMENTED_STATUS = 'VOICEMAIL_DETECTED';

/** IvrCallRecordDto generator: every documented field, GMT+8 naive times, ids beyond 2^53 now and then. */
export class LvmsDtoGenerator {
  private readonly rng: Rng;
  private seq = 0;
  private clock: number;

  constructor(private readonly opts: LvmsGeneratorOptions) {
    this.rng = new Rng(seededRandom(opts.seed));
    this.clock = opts.startMs ?? Date.UTC(2026, 10, 2, 1, 0, 0);
  }

  /** The DTO as the JSON text that will be sent. */
  next(): string {
    const rng = this.rng;
    const seq = this.seq++;
    this.clock += rng.int(500, 8000);
    const status = rng.chance(0.02) ? LVMS_UNDOCUMENTED_STATUS : LVMS_RESULT_STATUSES[seq % LVMS_RESULT_STATUSES.length]!;
    const talk = status === 'ANSWERED' ? rng.int(3, 600) : 0;
    const ring = rng.int(5, 40);
    const start = topTimestamp(this.clock);
    const end = topTimestamp(this.clock + (ring + talk) * 1000);
    const job = 880_000 + (this.opts.seed % 1000) * 10 + rng.int(0, 9);
    const tagId = rng.chance(0.8) ? 0 : rng.int(100, 120);
    const code = rng.int(0, 5);
    const fields: Record<string, unknown> = {};
    const withId = !rng.chance(this.opts.noIdRate ?? 0.05);
    // A Java long above 2^53 (JSON.parse would round it) for one record in ten: the key must keep every digit. TOP's
    // Number is a Java long, so the id stays below 9223372036854775807: from a seed part of 223 the head digit is 8,
    // which keeps the ids of different seeds apart.
    const idSeed = this.opts.seed % 1000;
    const idText = seq % 10 === 0 ? `${idSeed < 223 ? 9 : 8}${String(idSeed).padStart(3, '0')}${String(seq).padStart(15, '0')}` : String(BigInt(this.opts.seed % 100_000) * 10_000_000n + BigInt(seq));
    fields['robot_call_job_id'] = job;
    fields['called_phone_number'] = `1${rng.pick(['38', '39', '86', '50', '77'])}${rng.digits(8)}`;
    fields['result_status'] = status;
    fields['full_audio_url'] = talk > 0 ? `https://lvms-audio.oss-cn-hangzhou.aliyuncs.com/${job}/${seq}.wav?Expires=1893456000` : '';
    fields['chat_duration'] = talk;
    fields['start_time'] = start;
    fields['end_time'] = end;
    fields['name'] = rng.pick(['张三', '李四', '王五', 'Chen Wei', '']);
    fields['properties'] = JSON.stringify({ case_no: `C${rng.digits(8)}`, amount: rng.int(100, 90000) });
    fields['intent_level_detail_name'] = tagId === 0 ? `${'ABCDEF'[code]}类` : `自定义-${code}`;
    fields['tenant_phone_number_id'] = rng.int(1000, 1099);
    fields['phone_number'] = `0571${rng.digits(8)}`;
    fields['intent_level_code'] = code;
    fields['intent_level_tag_id'] = tagId;
    if (this.opts.malformedRate && rng.chance(this.opts.malformedRate)) {
      if (rng.chance(0.5)) fields['chat_duration'] = 'about a minute';
      else fields['start_time'] = 'yesterday';
    }
    const json = JSON.stringify(fields);
    if (withId) return `{"call_record_id":${idText},${json.slice(1)}`;
    // By the sequence number, not the generator's draws, so a seed's other DTOs stay as they were.
    const unset = ['', '"call_record_id":null,', '"call_record_id":"",'][seq % 3]!;
    return `{${unset}${json.slice(1)}`;
  }
}

export interface LvmsSubmitterOptions extends LvmsCredentials, LvmsGeneratorOptions {
  url: string;
  totalRecords?: number;
  recordsPerSecond: number;
  concurrency?: number;
  signMethods?: readonly TopSignMethod[];
  maxAttempts?: number;
}

export interface LvmsSubmitterStats {
  sent: number;
  accepted: number;
  rejected: number;
  retries: number;
  failedAfterRetries: number;
  bySignMethod: Record<TopSignMethod, number>;
}

export interface LvmsSubmitter {
  stats(): LvmsSubmitterStats;
  /** Natural keys of the accepted records. */
  acceptedDtos(): string[];
  done: Promise<LvmsSubmitterStats>;
  stop(): Promise<LvmsSubmitterStats>;
}

export function startLvmsSubmitter(opts: LvmsSubmitterOptions): LvmsSubmitter {
  const generator = new LvmsDtoGenerator(opts);
  const methods = opts.signMethods ?? TOP_SIGN_METHODS;
  const stats: LvmsSubmitterStats = {
    sent: 0, accepted: 0, rejected: 0, retries: 0, failedAfterRetries: 0, bySignMethod: { md5: 0, hmac: 0, 'hmac-sha256': 0 },
  };
  const accepted: string[] = [];
  const abort = new AbortController();
  const started = performance.now();
  let produced = 0;

  const one = async (dto: string, index: number) => {
    const signMethod = methods[index % methods.length]!;
    const format = index % 2 === 0 ? 'json' : 'xml';
    stats.bySignMethod[signMethod]++;
    try {
      const result = await retry(
        async () => {
          stats.sent++;
          let r: SubmitResult;
          try {
            r = await submitLvmsRecord({ url: opts.url, appKey: opts.appKey, appSecret: opts.appSecret, dto, signMethod, format });
          } catch (err) {
            throw new CdrflowError('transient', `LVMS submit failed: ${(err as Error).message}`, { cause: err });
          }
          if (r.status >= 500 || r.subCode?.startsWith('isp.')) throw new CdrflowError('transient', `LVMS answered ${r.status} ${r.code}/${r.subCode}`);
          return r;
        },
        { ...RETRY.vendorResend, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) },
        { signal: abort.signal, onRetry: () => void stats.retries++ },
      );
      if (result.success) {
        stats.accepted++;
        accepted.push(dto);
      } else stats.rejected++;
    } catch {
      stats.failedAfterRetries++;
    }
  };

  const worker = async () => {
    for (;;) {
      if (abort.signal.aborted) return;
      if (opts.totalRecords !== undefined && produced >= opts.totalRecords) return;
      const index = produced++;
      const dueAt = started + (index / opts.recordsPerSecond) * 1000;
      const wait = dueAt - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (abort.signal.aborted) return;
      await one(generator.next(), index);
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker)).then(() => ({ ...stats }));
  return {
    stats: () => ({ ...stats, bySignMethod: { ...stats.bySignMethod } }),
    acceptedDtos: () => [...accepted],
    done,
    stop: async () => {
      abort.abort();
      return done;
    },
  };
}
