// The raw-topic key of an LVMS IvrCallRecordDto, shared by the receiver, the file import and the normalize stage
// (one rule, one place). call_record_id when present; every DTO field is optional, so otherwise the composite
// `job:<robot_call_job_id>|<called_phone_number>|<start_time>`; undefined when neither can be formed. Such a DTO is
// still taken in (checkLvmsDto), under a key made from its text, and normalize dead-letters it.
// Works on the DTO's JSON text: TOP Numbers are Java longs, and JSON.parse would round ids above 2^53.
import { naturalKeyProblem, parseJsonStrict, recordSizeProblem, replacementCharProblem } from '../input-limits.ts';
import { CONTENT_KEY_SOURCE, contentKey } from './content-key.ts';
import { rawMembers } from './json-raw.ts';

export type LvmsKeySource = 'call_record_id' | 'composite' | typeof CONTENT_KEY_SOURCE;

export interface LvmsNaturalKey {
  key: string;
  source: LvmsKeySource;
}

/** `payload` is the `ivr_call_record_d_t_o` string exactly as received. */
export function lvmsNaturalKey(payload: string): LvmsNaturalKey | undefined {
  const members = rawMembers(payload);
  if (!members) return undefined;
  const callRecordId = integerText(members.get('call_record_id'));
  if (callRecordId !== undefined) return { key: callRecordId, source: 'call_record_id' };
  const job = integerText(members.get('robot_call_job_id'));
  const called = nonEmptyString(members.get('called_phone_number'));
  const start = nonEmptyString(members.get('start_time'));
  if (job !== undefined && called !== undefined && start !== undefined) {
    return { key: compositeKey({ job, called, start }), source: 'composite' };
  }
  return undefined;
}

export interface LvmsCompositeParts {
  job: string;
  called: string;
  start: string;
}

export function compositeKey(parts: LvmsCompositeParts): string {
  return `job:${parts.job}|${parts.called}|${parts.start}`;
}

/**
 * The parts of a composite key, or undefined for any other key (a call_record_id). Neither the number nor the start
 * time is barred from holding a `|`; the number is taken as everything between the job id and the last `|`, so a key
 * always splits one way and a `|` inside a number stays with the number.
 */
export function compositeParts(key: string): LvmsCompositeParts | undefined {
  const m = /^job:(-?\d+)\|([\s\S]+)\|([^|]*)$/.exec(key);
  return m ? { job: m[1]!, called: m[2]!, start: m[3]! } : undefined;
}

/** A TOP Number as its exact digits: a JSON integer, or a string of digits (some clients quote longs). */
function integerText(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (/^-?\d+$/.test(raw)) return canonicalInteger(raw);
  if (raw.startsWith('"')) {
    const value = JSON.parse(raw) as string;
    if (/^-?\d+$/.test(value.trim())) return canonicalInteger(value.trim());
  }
  return undefined;
}

function canonicalInteger(digits: string): string {
  // "007" and 7 are the same id; BigInt keeps every digit of a long.
  return BigInt(digits).toString();
}

/**
 * null or a string of blanks: no id, as lvmsNaturalKey reads it (the DTO is keyed by the composite or its text).
 * Refused, it was an isv.* error a TOP client does not retry, and a call the composite could key was lost.
 */
function absentText(raw: string): boolean {
  return raw === 'null' || (raw.startsWith('"') && (JSON.parse(raw) as string).trim() === '');
}

function nonEmptyString(raw: string | undefined): string | undefined {
  if (raw === undefined || !raw.startsWith('"')) return undefined;
  const value = JSON.parse(raw) as string;
  return value.trim() === '' ? undefined : value;
}

export type LvmsDtoCheck = { ok: true; key: LvmsNaturalKey } | { ok: false; problem: string };

/**
 * What the receiver and the import accept: a JSON object, with call_record_id (when given, and not null or blank) a
 * real integer. Everything
 * else inside is kept raw and judged by normalize, a missing key included.
 */
export function checkLvmsDto(payload: string): LvmsDtoCheck {
  // The door's limits (core/input-limits.ts): size, UTF-8, depth, a member given twice.
  const limit = recordSizeProblem(payload) ?? replacementCharProblem(payload);
  if (limit !== null) return { ok: false, problem: `ivr_call_record_d_t_o: ${limit}` };
  const strict = parseJsonStrict(payload);
  if (!strict.ok) {
    return { ok: false, problem: strict.problem.startsWith('malformed JSON') ? 'ivr_call_record_d_t_o is not valid JSON' : `ivr_call_record_d_t_o: ${strict.problem}` };
  }
  const parsed = strict.value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, problem: 'ivr_call_record_d_t_o must be a JSON object' };
  }
  const members = rawMembers(payload)!;
  const rawId = members.get('call_record_id');
  if (rawId !== undefined && !absentText(rawId) && integerText(rawId) === undefined) {
    return { ok: false, problem: 'call_record_id must be an integer' };
  }
  // A DTO no key can be formed for is still stored raw, under a key its text gives (a re-push lands on the same key),
  // and normalize dead-letters it: refused here, it was an isv.* error a TOP client does not retry, and the record was
  // lost with nothing stored to find it by (Huawei's receiver does the same, core/records/huawei-key.ts).
  const key = lvmsNaturalKey(payload) ?? contentKey(payload);
  const keyProblem = naturalKeyProblem(key.key, key.source === 'composite' ? 'composite key (robot_call_job_id|called_phone_number|start_time)' : 'call_record_id');
  if (keyProblem !== null) return { ok: false, problem: keyProblem };
  return { ok: true, key };
}
