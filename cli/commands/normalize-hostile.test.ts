// Fuzz campaign on `cdrflow normalize` (the mapping as a stdin filter) and its `--options FILE`, in-process: the
// command's own run() with a fake stdin, stdout and stderr, and the clock fixed so a bare record's received_at is known.
// Seeded streams mix good lines of the vendor (bare records and raw envelopes, under seeded normalize options) with
// hostile ones — invalid UTF-8, a byte order mark, CR / CRLF line ends, NUL and control characters, bidi and zero-width
// characters, deep nesting, a member given twice, JSON that is no object, envelopes of another vendor or tenant, lines
// just under and over MAX_LINE_BYTES, chunks cut anywhere, no final newline. Each stream must:
//  - end with exit 0 (all good) or 2 (some bad), never a throw;
//  - print every good line once, in input order, as exactly what the mapping makes of it (normalize() of the same
//    envelope, in terminalJson);
//  - report every bad line once as "line <n>: <reason>", the reason saying what is wrong and carrying no raw control or
//    invisible character, and a summary with the counts.
// Seeded `--options` files an operator got wrong (broken JSON next to the piiKey, the piiKey given twice or in the wrong
// place, wrong types, unknown keys, keys with escapes and bidi overrides, not UTF-8, deep, empty, a directory, over the
// size limit) must each be one printable usage error naming the file, which never shows the piiKey it was given.
// CDRFLOW_FUZZ_NORMALIZE_SEED replays another seed, CDRFLOW_FUZZ_NORMALIZE_CASES runs more streams, and
// CDRFLOW_FUZZ_NORMALIZE_OPTIONS_SEED draws other options files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { command } from './normalize.ts';
import { EXIT_SOME_LINES_BAD } from '../../core/exit-codes.ts';
import { MAX_LINE_BYTES, terminalJson } from '../../core/input-limits.ts';
import { VENDORS } from '../../core/topology.ts';
import type { Vendor } from '../../core/topology.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { parseNormalizeOptions } from '../../transforms/normalize/config.ts';
import type { NormalizeOptionsInput } from '../../transforms/normalize/config.ts';
import { BILLING_RULE_IDS } from '../../transforms/normalize/billing.ts';
import { normalize, tenantOfRecord } from '../../transforms/normalize/normalize.ts';
import { FUZZ_TENANT, seedRecords, tenantOption } from '../../test/fuzz/generator.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';

const SEED = Number(process.env['CDRFLOW_FUZZ_NORMALIZE_SEED'] ?? 6161);
const CASES = Number(process.env['CDRFLOW_FUZZ_NORMALIZE_CASES'] ?? 16);
const NOW = new Date('2026-03-01T12:00:00.000Z');

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}]/u;

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-normalize-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});
let files = 0;
const file = (content: string | Buffer) => {
  const path = join(dir, `f${files++}.json`);
  writeFileSync(path, content);
  return path;
};

type Json = Record<string, unknown>;

/** What a line must come to: this output line, a report matching `reason`, or nothing (blank). */
type Expect = { kind: 'ok'; json: string } | { kind: 'bad'; reason: RegExp; what: string } | { kind: 'blank' };

interface Line {
  body: Buffer;
  expect: Expect;
}

const seeds = Object.fromEntries(VENDORS.map((v) => [v, seedRecords(v)])) as Record<Vendor, Json[]>;

/** Text a vendor may send inside a string: all legal JSON once escaped, some of it hostile on a terminal. */
const ODD = ['张三', '😀', '"q"', '\\', '\u0000', '\u001b[31m', '\u007f', '\u0085', '\u202e', '\u200b', '\u2028', '\t', 'é', ''];

class StreamGen {
  constructor(
    readonly r: Rng,
    readonly vendor: Vendor,
    readonly tenant: string | null,
    readonly options: ReturnType<typeof parseNormalizeOptions>,
  ) {}

  private odd(): string {
    return Array.from({ length: this.r.int(1, 3) }, () => this.r.pick(ODD)).join('');
  }

  /** A seed record of the vendor, sometimes with an extra member of odd text (members the mapping does not read). */
  private record(): Json {
    const rec: Json = { ...this.r.pick(seeds[this.vendor]) };
    if (this.r.chance(0.4)) rec['remark'] = this.odd();
    return rec;
  }

  /** What the mapping makes of this envelope: the output line, or the report of its own reason. */
  private expected(envelope: RawEnvelope, what: string): Expect {
    const result = normalize(envelope, { now: () => NOW, lineage: null, options: this.options });
    if (result.ok) return { kind: 'ok', json: terminalJson(result.cdr) };
    return { kind: 'bad', reason: new RegExp(`^${escapeRegExp(plainHead(result.error.message))}`), what: `${what} (the mapping refuses it: ${result.error.message.slice(0, 80)})` };
  }

  bare(): Line {
    const rec = this.record();
    const text = JSON.stringify(rec);
    const own = tenantOfRecord(this.vendor, rec);
    // README: a line naming a different tenant than --tenant is an error.
    if (own !== null && this.tenant !== null && own !== this.tenant) return { body: Buffer.from(text), expect: { kind: 'bad', reason: /^record belongs to tenant .*, not to the requested tenant/, what: 'a record of another tenant' } };
    const tenant = own ?? this.tenant ?? '';
    const envelope: RawEnvelope = { vendor: this.vendor, tenant_id: tenant, natural_key: '', received_at: NOW, connector: 'cli', mode: 'import', request_id: null, payload: text, payload_format: 'json', attributes: {} };
    return { body: Buffer.from(text), expect: this.expected(envelope, 'bare record') };
  }

  envelope(): Line {
    const rec = this.record();
    const payload = JSON.stringify(rec);
    const receivedAt = Date.UTC(2025, 11, 1) + this.r.int(0, 86_400_000);
    const tenant = this.tenant ?? tenantOfRecord(this.vendor, rec) ?? FUZZ_TENANT[this.vendor];
    const mode = this.r.pick(['live', 'backfill', 'import'] as const);
    const attributes = this.r.chance(0.3) ? { note: this.odd() } : {};
    const line = { vendor: this.vendor, tenant_id: tenant, natural_key: `k-${this.r.hex(6)}`, received_at: receivedAt, connector: 'fuzz', mode, request_id: null, payload, attributes };
    const envelope: RawEnvelope = { ...line, received_at: new Date(receivedAt), payload_format: 'json' };
    return { body: Buffer.from(JSON.stringify(line)), expect: this.expected(envelope, 'envelope') };
  }

  good(): Line {
    return this.r.chance(0.5) ? this.bare() : this.envelope();
  }

  /** A line the command must report (or, for blank ones, skip). */
  hostile(): Line {
    const good = this.good();
    const text = good.body.toString('utf8');
    const bad = (body: string | Buffer, reason: RegExp, what: string): Line => ({ body: Buffer.isBuffer(body) ? body : Buffer.from(body), expect: { kind: 'bad', reason, what } });
    const other = this.r.pick(VENDORS.filter((v) => v !== this.vendor));
    return this.r.pick<() => Line>([
      () => {
        const bytes = Buffer.from(text);
        bytes[this.r.int(0, bytes.length - 1)] = this.r.pick([0xff, 0xc3, 0x80, 0xed]);
        return bad(bytes, /^invalid UTF-8 in the line$|^malformed JSON|^invalid envelope|not|JSON/, 'an invalid UTF-8 byte');
      },
      // A byte order mark (an editor's, at a file's start) marks the encoding and is no part of the text.
      () => ({ body: Buffer.from(`\ufeff${text}`), expect: good.expect }),
      () => bad(text.replace('{', `{\u0000`), /^malformed JSON/, 'a raw NUL before the first member'),
      () => bad(text.replace('{', `{"ctl":"\u0001\u001b[2J",`), /^malformed JSON/, 'raw control characters in a string'),
      // A CR is JSON whitespace: the line means what it meant without it.
      () => ({ body: Buffer.from(text.replace('{', '{\r')), expect: good.expect }),
      () => bad(`{"x":${'['.repeat(this.r.int(17, 50_000))}`, /^JSON nested deeper than 16 levels$/, 'deep nesting'),
      () => bad(text.replace('{', `{"deep":${'['.repeat(20)}1${']'.repeat(20)},`), /^JSON nested deeper than 16 levels$/, 'deep nesting in a good record'),
      () => bad(this.r.pick(['1', '"text"', 'null', 'true', '[1,2]', '[]', '1e999', '"\u202e"']), /.+/, 'JSON that is no object'),
      () => {
        const key = (/^\{"([^"]+)"/.exec(text) ?? [])[1] ?? 'x';
        return bad(text.replace('{', `{"${key}":0,`), /duplicate|given twice|twice|more than once/, 'a member given twice');
      },
      () => bad(JSON.stringify({ vendor: other, tenant_id: '1', natural_key: 'x', payload: '{}' }), new RegExp(`^envelope is for vendor ${other}, not ${this.vendor}$`), 'an envelope of another vendor'),
      () => bad(JSON.stringify({ vendor: `${this.vendor}\u202e\u001b[31m`, tenant_id: '1', natural_key: 'x', payload: '{}' }), /^envelope is for vendor /, 'an envelope whose vendor carries escapes'),
      () => {
        const line = { vendor: this.vendor, tenant_id: `t\u202e\u0085${this.r.hex(4)}`, natural_key: 'x', payload: JSON.stringify(this.record()) };
        const body = Buffer.from(JSON.stringify(line));
        if (this.tenant !== null) return bad(body, /^envelope belongs to tenant t\\u202e\\u0085\w+, not to the requested tenant/, 'an envelope of another tenant, with escapes');
        const envelope: RawEnvelope = { ...line, received_at: NOW, connector: 'cli', mode: 'import', request_id: null, payload_format: 'json', attributes: {} };
        return { body, expect: this.expected(envelope, 'an envelope whose tenant carries escapes') };
      },
      () => bad(JSON.stringify({ vendor: this.vendor, tenant_id: '1', payload: 5 }), /.+/, 'an envelope-like line whose payload is no string'),
      () => bad(JSON.stringify({ vendor: this.vendor, tenant_id: '', natural_key: 'x', payload: '{}' }), /^invalid envelope: tenant_id/, 'an envelope without tenant'),
      () => bad(JSON.stringify({ vendor: this.vendor, tenant_id: this.tenant ?? '1', received_at: this.r.pick([-1, 1.5, '2025-13-01', 8.64e15 + 1]), payload: '{}' }), /^invalid envelope: received_at/, 'an envelope with a bad received_at'),
      () => bad(Buffer.from(JSON.stringify({ pad: 'x'.repeat(MAX_LINE_BYTES) })), new RegExp(`^line is \\d+ bytes long \\(limit ${MAX_LINE_BYTES}\\); skipped unread$`), 'a line over the limit'),
      () => ({ body: Buffer.from(this.r.pick(['', ' ', '\t', '  \t '])), expect: { kind: 'blank' } }),
    ])();
  }
}

/** The start of a reason up to its first character a report may escape: enough to tell reasons apart. */
function plainHead(reason: string): string {
  return (/^[\w :.,()/'-]*/.exec(reason.slice(0, 60)) ?? [''])[0];
}
function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Normalize options a deployment may give: the oracle's mapping runs under the same ones. */
function optionsOf(r: Rng): NormalizeOptionsInput {
  const options: NormalizeOptionsInput = {};
  if (r.chance(0.5)) {
    const vendor = r.pick(VENDORS);
    options.billing = { defaultRule: r.pick(BILLING_RULE_IDS), perVendor: { [vendor]: r.pick(BILLING_RULE_IDS) }, perTenant: { [`${vendor}:${FUZZ_TENANT[vendor]}`]: r.pick(BILLING_RULE_IDS) } };
  }
  if (r.chance(0.4)) options.lvmsTimeZone = { default: r.pick(['UTC', 'Asia/Shanghai', 'America/New_York']), perTenant: { [FUZZ_TENANT['alibaba-lvms']]: r.pick(['Asia/Tokyo', 'Europe/Berlin']) } };
  if (r.chance(0.4)) options.piiKey = `pii-${r.hex(24)}`;
  return options;
}

/** Cuts `bytes` into chunks at seeded places: a line, a UTF-8 sequence or a CRLF may straddle two. */
function chunks(r: Rng, bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = r.chance(0.2) ? r.int(1, 3) : r.int(1, 256 * 1024);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Runs the command as `cdrflow normalize <args> < input`, in-process: its exit code, stdout and stderr. */
async function runNormalize(args: string[], input: Buffer[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from(input, { objectMode: false }) as unknown as typeof process.stdin);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => (stderr.push(String(chunk)), true));
  try {
    const code = await command.run(args);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    vi.restoreAllMocks();
  }
}

describe(`cdrflow normalize on hostile stdin (seed ${SEED}, ${CASES} streams)`, { timeout: 120_000 }, () => {
  it('prints every good line once, in order, as the mapping makes it; reports every bad line once by its number, printably', async () => {
    const r = new Rng(seededRandom(SEED));
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
    for (let c = 0; c < CASES; c++) {
      const vendor = r.pick(VENDORS);
      const tenant = tenantOption(vendor) ?? (r.chance(0.5) ? FUZZ_TENANT[vendor] : null);
      const withFile = r.chance(0.75);
      const optionsInput = withFile ? optionsOf(r) : {};
      const gen = new StreamGen(r, vendor, tenant, parseNormalizeOptions(optionsInput));
      const lines = Array.from({ length: r.int(1, 40) }, () => (r.chance(0.55) ? gen.good() : gen.hostile()));
      // The line ends of a stream: LF, CRLF, some of each; the last line may have none.
      const ends: string[] = lines.map(() => (r.chance(0.3) ? '\r\n' : '\n'));
      if (r.chance(0.3)) ends[ends.length - 1] = '';
      const input = Buffer.concat(lines.flatMap((l, i) => [l.body, Buffer.from(ends[i]!)]));
      const args = ['--vendor', vendor, ...(tenant === null ? [] : ['--tenant', tenant]), ...(withFile ? ['--options', file(JSON.stringify(optionsInput))] : [])];
      const label = `seed ${SEED} stream ${c} (${vendor}, ${lines.length} lines)`;
      const expects = lines.map((l) => l.expect);

      const { code, stdout, stderr } = await runNormalize(args, chunks(r, input));

      const wanted = expects.flatMap((e) => (e.kind === 'ok' ? [e.json] : []));
      const kinds = expects.map((e, i) => `${i + 1}: ${e.kind === 'bad' ? e.what : e.kind}`).join('; ');
      expect(stdout.split('\n').slice(0, -1), `${label}: the output lines (${kinds})`).toEqual(wanted);
      const reports = stderr.split('\n').filter((l) => l.startsWith('line '));
      const badLines = expects.flatMap((e, i) => (e.kind === 'bad' ? [[i + 1, e] as const] : []));
      expect(reports.map((l) => Number(/^line (\d+): /.exec(l)?.[1])), `${label}: the lines reported`).toEqual(badLines.map(([n]) => n));
      for (const [i, [n, e]] of badLines.entries()) {
        const reason = reports[i]!.slice(`line ${n}: `.length);
        expect(reason, `${label}: line ${n}, ${e.what}`).toMatch(e.reason);
        expect(reason, `${label}: line ${n}, ${e.what}: a raw control character`).not.toMatch(CONTROL);
        expect(reason, `${label}: line ${n}, ${e.what}: a raw invisible character`).not.toMatch(INVISIBLE);
      }
      expect(stdout, `${label}: stdout`).not.toMatch(CONTROL_BUT_NEWLINE);
      expect(stdout, `${label}: stdout`).not.toMatch(INVISIBLE);
      expect(code, label).toBe(badLines.length === 0 ? 0 : EXIT_SOME_LINES_BAD);
      const nonBlank = lines.length - expects.filter((e) => e.kind === 'blank').length;
      if (badLines.length > 0) expect(stderr, label).toMatch(new RegExp(`^normalize: ${badLines.length} of \\d+ lines were bad$`, 'm'));
      expect(wanted.length + badLines.length, label).toBe(nonBlank);
    }
  });
});

// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;


describe('cdrflow normalize reports', () => {
  it("show a line's bidi override and C1 control as \\u escapes (envelope tenant and vendor names were printed raw)", async () => {
    const lines = [
      JSON.stringify({ vendor: 'tencent-ccc\u202e', tenant_id: '1', payload: '{}' }),
      JSON.stringify({ vendor: 'tencent-ccc', tenant_id: 'evil\u202e\u0085\u200b', payload: '{}' }),
    ];
    const { code, stderr } = await runNormalize(['--vendor', 'tencent-ccc', '--tenant', '1400000000'], [Buffer.from(`${lines.join('\n')}\n`)]);
    expect(code).toBe(EXIT_SOME_LINES_BAD);
    expect(stderr.split('\n').filter((l) => l.startsWith('line '))).toEqual([
      'line 1: envelope is for vendor tencent-ccc\\u202e, not tencent-ccc',
      'line 2: envelope belongs to tenant evil\\u202e\\u0085\\u200b, not to the requested tenant 1400000000',
    ]);
  });
});

const OPTIONS_SEED = Number(process.env['CDRFLOW_FUZZ_NORMALIZE_OPTIONS_SEED'] ?? 6262);
const MAX_PROBLEM_CHARS = 600;

/** An options file an operator got wrong, and the piiKey it holds, which no message may show. */
function hostileOptions(r: Rng): { what: string; content: string | Buffer | null; secret: string | null } {
  const secret = `S3cr3tPii${r.hex(16)}`;
  const q = JSON.stringify(secret);
  const rule = r.pick(BILLING_RULE_IDS);
  const escapes = r.pick(['\u202e', '\u001b[31m', '\u0085', '\u200b', '\u0000', '\r\nforged: line']);
  return r.pick<() => { what: string; content: string | Buffer | null; secret: string | null }>([
    () => ({ what: 'an unquoted piiKey', content: `{"piiKey": ${secret}}`, secret }),
    () => ({ what: 'a trailing comma after the piiKey', content: `{"piiKey": ${q},}`, secret }),
    () => ({ what: 'a missing comma after the piiKey', content: `{"piiKey": ${q} "billing": {}}`, secret }),
    () => ({ what: 'a cut-off piiKey', content: `{"piiKey": ${q.slice(0, -3)}`, secret }),
    () => ({ what: 'single quotes', content: `{'piiKey': '${secret}'}`, secret }),
    () => ({ what: 'YAML', content: `piiKey: ${secret}\nbilling:\n  defaultRule: "${rule}"\n`, secret }),
    () => ({ what: 'a brace too many', content: `{"piiKey": ${q}}}`, secret }),
    () => ({ what: 'a piiKey that is no string', content: JSON.stringify({ piiKey: r.pick([{ value: secret }, [secret], 1234567890123]) }), secret }),
    () => ({ what: 'a short piiKey', content: JSON.stringify({ piiKey: secret.slice(0, 12) }), secret: secret.slice(0, 12) }),
    () => ({ what: 'the piiKey under billing', content: JSON.stringify({ billing: { piiKey: secret } }), secret }),
    () => ({ what: 'the piiKey misspelled', content: JSON.stringify({ pii_key: secret, billing: { defaultRule: rule } }), secret }),
    () => ({ what: 'the piiKey as a time zone', content: JSON.stringify({ lvmsTimeZone: { default: secret } }), secret }),
    () => ({ what: 'the piiKey as a billing rule', content: JSON.stringify({ billing: { perTenant: { 'tencent-ccc:1': secret } } }), secret }),
    () => ({ what: 'the piiKey as the region', content: JSON.stringify({ piiKey: secret, defaultRegion: secret }), secret }),
    () => ({ what: 'the piiKey pasted as a key', content: JSON.stringify({ [secret]: 1, billing: { [secret]: 1 } }), secret }),
    () => ({ what: 'an unknown key with escapes', content: JSON.stringify({ [`bad${escapes}key`]: 1 }), secret: null }),
    () => ({ what: 'a perTenant key with escapes', content: JSON.stringify({ billing: { perTenant: { [`tencent-ccc:${escapes}`]: '7/7' } } }), secret: null }),
    () => ({ what: 'a billing key that names no vendor', content: JSON.stringify({ billing: { perTenant: { [`acme${escapes}:1`]: rule } } }), secret: null }),
    () => ({ what: 'a time zone key with escapes', content: JSON.stringify({ lvmsTimeZone: { perTenant: { [`t${escapes}`]: `Mars/${escapes}` } } }), secret: null }),
    () => ({ what: 'a rule of the wrong type', content: JSON.stringify({ billing: { defaultRule: r.pick([60, null, ['60/60'], { rule: '60/60' }]) } }), secret: null }),
    () => ({ what: 'JSON that is no object', content: r.pick(['[]', '5', '"options"', 'true', `[${q}]`]), secret }),
    () => ({ what: 'not UTF-8', content: Buffer.concat([Buffer.from('{"bil'), Buffer.from([0xff, 0xfe]), Buffer.from(`ling": {}, "piiKey": ${q}}`)]), secret }),
    () => ({ what: 'raw control characters in the piiKey', content: `{"piiKey": "${secret}\u0001\u001b[2J"}`, secret }),
    () => ({ what: 'deep nesting', content: `{"billing": ${'['.repeat(r.int(1000, 200_000))}`, secret: null }),
    () => ({ what: 'an empty file', content: r.pick(['', ' \n', '\ufeff']), secret: null }),
    () => ({ what: 'a file over the size limit', content: `{"piiKey": ${q}${' '.repeat(1024 * 1024)}}`, secret }),
    () => ({ what: 'a directory', content: null, secret: null }),
    () => ({ what: 'the piiKey given twice', content: `{"piiKey": ${q}, "piiKey": "${'x'.repeat(20)}"}`, secret }),
  ])();
}

describe(`cdrflow normalize --options, hostile files (seed ${OPTIONS_SEED})`, () => {
  it('each is one printable usage error naming the file, which never shows the piiKey it was given', async () => {
    const r = new Rng(seededRandom(OPTIONS_SEED));
    for (let c = 0; c < 60; c++) {
      const { what, content, secret } = hostileOptions(r);
      const path = content === null ? dir : file(content);
      const label = `seed ${OPTIONS_SEED} case ${c}: ${what}`;
      const err = await command.run(['--vendor', r.pick(VENDORS), '--options', path]).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.name, `${label}: ${err?.message}`).toBe('UsageError');
      const message = err!.message;
      expect(message.startsWith(`--options ${path}: `), `${label}: ${message}`).toBe(true);
      expect(message, label).not.toMatch(CONTROL);
      expect(message, label).not.toMatch(INVISIBLE);
      expect(message.length, label).toBeLessThan(MAX_PROBLEM_CHARS);
      if (secret !== null) for (let i = 0; i + 6 <= secret.length; i++) expect(message, `${label}: shows the piiKey`).not.toContain(secret.slice(i, i + 6));
    }
  });

  it('show neither the piiKey of a broken file (JSON.parse quoted it) nor a key\'s bidi override raw', async () => {
    const problem = async (content: string) => {
      const path = file(content);
      const err = (await command.run(['--vendor', 'tencent-ccc', '--options', path]).catch((e: unknown) => e)) as Error;
      return err.message.slice(`--options ${path}: `.length);
    };
    expect(await problem('{"piiKey": S3cr3tPiiKey0123456789}')).toBe('not valid JSON: an unexpected character (not shown: the text may hold secrets)');
    expect(await problem('{"lvmsTimeZone": {"perTenant": {"t\u202e1": "Mars/Base"}}}')).toBe('lvmsTimeZone.perTenant.t\\u202e1: not an IANA time zone');
    expect(await problem('{"piiKey": "S3cr3tPiiKey0123456789", "piiKey": "another-key-of-16-chars"}')).toMatch(/^not valid JSON: .*piiKey/);
    // Pasted as a key: counted where the piiKey is kept, named elsewhere only when shaped as a setting's name; a near
    // miss keeps its guess.
    expect(await problem('{"S3cr3tPiiKey0123456789": 1, "biling": {}, "billing": {"S3cr3tPiiKey0123456789": 1, "perTenant": {}}}')).toBe(
      'billing: an unknown key (not shown: a key here may be a secret pasted in the wrong place); (root): Unrecognized key: "biling" (did you mean "billing"?); an unknown key (not shown: a key here may be a secret pasted in the wrong place)',
    );
  });

  it('refuses a file of JSON that is no object, null included (it was read as the defaults, a piiKey left unset)', async () => {
    for (const [content, kind] of [['null', 'null'], [' null\n', 'null'], ['5', 'a number'], ['"{}"', 'a string'], ['[]', 'a list']]) {
      const path = file(content!);
      // Taken, it normalized the (empty) input with the defaults and ended 0.
      await expect(runNormalize(['--vendor', 'tencent-ccc', '--options', path], []), content).rejects.toThrow(expect.objectContaining({ name: 'UsageError', message: `--options ${path}: holds ${kind}, not a JSON object` }));
    }
  });

  it('a byte order mark and CRLF line ends are no problem: the options apply', async () => {
    const options = { piiKey: 'a-pii-key-of-16-chars-or-more', billing: { defaultRule: '1/1' } };
    const path = file(`\ufeff${JSON.stringify(options, null, 2).replace(/\n/g, '\r\n')}\r\n`);
    const record = seedRecords('tencent-trtc')[0]!;
    const { code, stdout } = await runNormalize(['--vendor', 'tencent-trtc', '--options', path], [Buffer.from(`${JSON.stringify(record)}\n`)]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout) as Json).toMatchObject({ billing_rule: '1/1' });
  });
});
