// Deterministic hostile records per vendor: the good fixtures of transforms/normalize/fixtures (bare ones that
// normalize) as seeds, each mutated 1-3 times by what a broken or hostile vendor sends — dropped fields, wrong types,
// huge numbers, extreme and inverted timestamps, NaN-like strings, unicode and control characters, long strings,
// unknown and built-in-named codes, deep nesting, duplicate keys, invalid UTF-8, envelope-shaped lines. The same seed
// gives the same lines, so any failure found by `npm run fuzz` is reproducible.
import { seededRandom } from '../../simulators/kit.ts';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VENDORS, type Vendor } from '../../core/topology.ts';

const FIXTURES = fileURLToPath(new URL('../../transforms/normalize/fixtures/', import.meta.url));

/** The tenant bare seeds are normalized under (their fixtures' tenant when they name none). */
export const FUZZ_TENANT: Readonly<Record<Vendor, string>> = {
  'tencent-ccc': '1400000000',
  'tencent-trtc': '88888888',
  'huawei-privatenumber': 'fixture-app-key',
  'alibaba-lvms': 'fixture-app-key',
};

/** Where TRTC and Huawei records name their tenant; CCC query-API and LVMS records never do (they need --tenant). */
const OWN_TENANT_FIELD: Partial<Record<Vendor, string>> = { 'tencent-trtc': 'sdkAppId', 'huawei-privatenumber': 'appKey' };

/** The --tenant for `cdrflow normalize` / normalizeLine: only for vendors whose records do not carry one. */
export const tenantOption = (vendor: Vendor): string | null => (OWN_TENANT_FIELD[vendor] === undefined ? FUZZ_TENANT[vendor] : null);


type Json = Record<string, unknown>;

/** Bare fixture inputs whose expected output is a normalized CDR: realistic, valid records of each vendor. */
export function seedRecords(vendor: Vendor): Json[] {
  const dir = `${FIXTURES}${vendor}/`;
  const seeds: Json[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.in.json')) continue;
    const out = JSON.parse(readFileSync(dir + file.replace(/\.in\.json$/, '.out.json'), 'utf8')) as { ok: boolean };
    if (!out.ok) continue;
    let input: unknown;
    try {
      input = JSON.parse(readFileSync(dir + file, 'utf8'));
    } catch {
      continue;
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input) || '$fixture' in input) continue;
    const field = OWN_TENANT_FIELD[vendor];
    if (field !== undefined && (input as Json)[field] === undefined) (input as Json)[field] = FUZZ_TENANT[vendor];
    seeds.push(input as Json);
  }
  if (seeds.length === 0) throw new Error(`no seed records for ${vendor}`);
  return seeds;
}

const TIME_FIELDS: Readonly<Record<Vendor, readonly string[]>> = {
  'tencent-ccc': ['StartTimestamp', 'QueuedTimestamp', 'RingTimestamp', 'AcceptTimestamp', 'EndedTimestamp', 'Time'],
  'tencent-trtc': ['startCallTs', 'acceptTs', 'endTs'],
  'huawei-privatenumber': ['callInTime', 'fwdAlertingTime', 'fwdAnswerTime', 'callEndTime', 'failTime', 'fwdStartTime'],
  'alibaba-lvms': ['start_time', 'end_time'],
};
const CODE_FIELDS: Readonly<Record<Vendor, readonly string[]>> = {
  'tencent-ccc': ['EndStatus', 'EndStatusString', 'Direction', 'CallType', 'HungUpSide'],
  'tencent-trtc': ['callResult', 'mediaType', 'callType'],
  'huawei-privatenumber': ['ulFailReason', 'fwdUnaswRsn', 'callOutUnaswRsn', 'sipStatusCode', 'direction'],
  'alibaba-lvms': ['result_status', 'intent_level_code', 'intent_level_tag_id'],
};
const DURATION_FIELDS: Readonly<Record<Vendor, readonly string[]>> = {
  'tencent-ccc': ['Duration', 'IVRDuration'],
  'tencent-trtc': [],
  'huawei-privatenumber': [],
  'alibaba-lvms': ['chat_duration'],
};
export const KEY_FIELDS: Readonly<Record<Vendor, string>> = {
  'tencent-ccc': 'SessionId',
  'tencent-trtc': 'callId',
  'huawei-privatenumber': 'sessionId',
  'alibaba-lvms': 'call_record_id',
};

const BUILT_IN_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'prototype'];
const NAN_LIKE = ['NaN', 'Infinity', '-Infinity', '-0', '1e999', '0x10', ' 12 ', '', 'null', 'undefined', '1,5', '٣'];
const WRONG_TYPES: unknown[] = [true, false, [], {}, null, 'x', 1.5, -1, [1, 2], { a: 1 }];
const HUGE: unknown[] = [2_147_483_000, 2 ** 31, 2 ** 53 + 1, 1e21, 1e308, -1e308, -2_147_483_000, 9.99e15];
const NASTY_TEXT = ['\u0000', '\nline 7: forged report', '录音文件.wav', '\u202eevil', '😀', '\r\n', '\\', '"', '\u2028', '\ud83d'];

export interface FuzzLine {
  /** A line of `cdrflow normalize` input: text, or raw bytes when the mutation broke the UTF-8. */
  line: string | Buffer;
  mutations: string[];
}

/** A fuzz line as text, the way a lenient reader (an Avro string, readline) decodes it: broken bytes become U+FFFD. */
export const fuzzText = (line: FuzzLine['line']): string => (typeof line === 'string' ? line : line.toString('utf8'));

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

function unixSecondsOf(vendor: Vendor, record: Json): number | null {
  for (const f of TIME_FIELDS[vendor]) {
    const v = record[f];
    if (typeof v === 'number' && v > 0) return v;
    if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2} /.test(v)) return Date.parse(`${v.replace(' ', 'T')}Z`) / 1000;
  }
  return null;
}

function timeValue(vendor: Vendor, rnd: () => number, base: number): unknown {
  const naive = vendor === 'huawei-privatenumber' || vendor === 'alibaba-lvms';
  const shifts = [-600, -86_400 * 400, 3_600, 86_400 * 3, -24, 1, 2_147_483_000];
  const extremes = naive
    ? ['0050-06-15 12:00:00', '0000-01-01 00:00:00', '9999-12-31 23:59:59', '2026-02-30 00:00:00', '1999-12-31 23:59:59', '2026-13-01 00:00:00', '+275760-09-13 00:00:00']
    : [0, 1, -1, 253_402_300_800, 32_503_680_000, 8.64e12, 1e20, '1767225600', 946_684_799];
  if (rnd() < 0.5) return pick(rnd, extremes);
  const t = base + pick(rnd, shifts);
  if (!naive) return t;
  const d = new Date(t * 1000);
  return Number.isFinite(d.getTime()) ? d.toISOString().slice(0, 19).replace('T', ' ') : '9999-99-99 99:99:99';
}

const NEST_MARK = '\u0000nest:';
const NEST_PATTERN = /"\\u0000nest:(\d+)([ao])"/g;

/** Replaces each nesting mark with that many levels of arrays (a) or objects (o) around a 1. */
function expandNesting(text: string): string {
  return text.replace(NEST_PATTERN, (_m, depth: string, kind: string) => {
    const d = Number(depth);
    return kind === 'a' ? `${'['.repeat(d)}1${']'.repeat(d)}` : `${'{"n":'.repeat(d)}1${'}'.repeat(d)}`;
  });
}

type Mutation = (vendor: Vendor, record: Json, rnd: () => number, base: number) => string;

const MUTATIONS: readonly Mutation[] = [
  (_v, r, rnd) => {
    const k = pick(rnd, Object.keys(r));
    Reflect.deleteProperty(r, k);
    return `drop ${k}`;
  },
  (_v, r, rnd) => {
    const k = pick(rnd, Object.keys(r));
    r[k] = pick(rnd, WRONG_TYPES);
    return `wrong type ${k}`;
  },
  (v, r, rnd) => {
    const k = pick(rnd, [...DURATION_FIELDS[v], ...CODE_FIELDS[v], ...Object.keys(r)]);
    r[k] = pick(rnd, HUGE);
    return `huge ${k}`;
  },
  (v, r, rnd, base) => {
    const k = pick(rnd, TIME_FIELDS[v]);
    r[k] = timeValue(v, rnd, base);
    return `time ${k}`;
  },
  (v, r, rnd) => {
    const [a, b] = [pick(rnd, TIME_FIELDS[v]), pick(rnd, TIME_FIELDS[v])];
    [r[a], r[b]] = [r[b], r[a]];
    return `swap ${a}/${b}`;
  },
  (v, r, rnd) => {
    const k = pick(rnd, [...TIME_FIELDS[v], ...DURATION_FIELDS[v], ...CODE_FIELDS[v]]);
    r[k] = pick(rnd, NAN_LIKE);
    return `nan-like ${k}`;
  },
  (_v, r, rnd) => {
    const k = pick(rnd, Object.keys(r));
    r[k] = `${typeof r[k] === 'string' ? (r[k] as string) : ''}${pick(rnd, NASTY_TEXT)}`;
    return `nasty text ${k}`;
  },
  (v, r, rnd) => {
    const k = rnd() < 0.3 ? KEY_FIELDS[v] : pick(rnd, Object.keys(r));
    r[k] = pick(rnd, ['x', '录', '\n']).repeat(Math.floor(rnd() * 3000) + 257);
    return `long string ${k}`;
  },
  (v, r, rnd) => {
    const k = pick(rnd, CODE_FIELDS[v]);
    r[k] = rnd() < 0.7 ? pick(rnd, BUILT_IN_NAMES) : pick(rnd, [99_999, 'WHATEVER', -7, 'Normal_End']);
    return `code ${k}`;
  },
  (v, r, rnd) => {
    const k = pick(rnd, [...Object.keys(r), 'extra']);
    const depth = pick(rnd, [17, 40, 500, 5_000]);
    // Written into the text after serialising: JSON.stringify itself recurses and would overflow on 5,000 levels.
    r[k] = `${NEST_MARK}${depth}${rnd() < 0.5 ? 'a' : 'o'}`;
    return `nest ${k} ${depth}`;
  },
  (v, r, rnd, base) => {
    // An answered call whose vendor duration disagrees with its own stamps (the 35-million-minute bill).
    const answered = { 'tencent-ccc': 'AcceptTimestamp', 'tencent-trtc': 'acceptTs', 'huawei-privatenumber': 'fwdAnswerTime', 'alibaba-lvms': 'start_time' }[v];
    if (v === 'tencent-ccc') Object.assign(r, { EndStatus: 1, StartTimestamp: base, AcceptTimestamp: base + 5, EndedTimestamp: base + 65, Duration: pick(rnd, [2_147_483_000, 600, 61, -5]) });
    else if (v === 'alibaba-lvms') r['chat_duration'] = pick(rnd, [2_147_483_000, 86_401, 3_600, 59]);
    else r[answered] = timeValue(v, rnd, base);
    return 'duration vs stamps';
  },
];

/** Text-level mutations applied after serialisation: duplicate members and broken UTF-8. */
function duplicateMember(text: string, vendor: Vendor, rnd: () => number, record: Json): string {
  const key = rnd() < 0.5 ? KEY_FIELDS[vendor] : pick(rnd, Object.keys(record).length > 0 ? Object.keys(record) : ['x']);
  return text.replace('{', `{${JSON.stringify(key)}:${JSON.stringify(pick(rnd, ['other', 1, null, 'A']))},`);
}

const INVALID_UTF8 = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe4, 0xb8])];

function envelopeLine(vendor: Vendor, recordText: string, rnd: () => number): { line: string; note: string } {
  const received = pick(rnd, [undefined, '2026-06-01T00:00:00Z', 1e20, -1, 0, 8.64e15, 8.64e15 + 1, '+275760-09-13T00:00:00.001Z', 1_780_000_000_000]);
  const naturalKey = pick(rnd, ['', 'k-1', 'y'.repeat(300), '\n', 'constructor']);
  const env: Json = {
    vendor: rnd() < 0.9 ? vendor : pick(rnd, VENDORS),
    tenant_id: rnd() < 0.9 ? FUZZ_TENANT[vendor] : pick(rnd, ['', 'other', '__proto__']),
    natural_key: naturalKey,
    payload: recordText,
  };
  if (received !== undefined) env['received_at'] = received;
  return { line: JSON.stringify(env), note: `envelope received_at=${String(received)}` };
}

/** `count` mutated lines for `vendor` from `seed`; a share stays unmutated so good records are exercised too. */
export function* fuzzLines(vendor: Vendor, count: number, seed: number): Generator<FuzzLine> {
  const rnd = seededRandom(seed ^ VENDORS.indexOf(vendor) * 0x9e3779b9);
  const seeds = seedRecords(vendor);
  for (let i = 0; i < count; i++) {
    const record = structuredClone(pick(rnd, seeds));
    const base = unixSecondsOf(vendor, record) ?? 1_764_547_200;
    const mutations: string[] = [];
    const n = rnd() < 0.1 ? 0 : 1 + Math.floor(rnd() * 3);
    for (let m = 0; m < n; m++) mutations.push(pick(rnd, MUTATIONS)(vendor, record, rnd, base));
    let text = expandNesting(JSON.stringify(record));
    const roll = rnd();
    if (roll < 0.06) {
      text = duplicateMember(text, vendor, rnd, record);
      mutations.push('duplicate member');
    } else if (roll < 0.1) {
      const cut = Math.floor(rnd() * text.length);
      mutations.push('invalid utf-8');
      yield { line: Buffer.concat([Buffer.from(text.slice(0, cut)), pick(rnd, INVALID_UTF8), Buffer.from(text.slice(cut))]), mutations };
      continue;
    } else if (roll < 0.13) {
      text = text.replace('}', `,"x":"\\ud800"}`);
      mutations.push('lone surrogate escape');
    }
    if (rnd() < 0.2) {
      const e = envelopeLine(vendor, text, rnd);
      mutations.push(e.note);
      text = e.line;
    }
    yield { line: text, mutations };
  }
}
