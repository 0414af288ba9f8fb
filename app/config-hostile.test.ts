// Hostile input on the configuration surface, loaded in-process through the loader every command uses
// (cli/app-config.ts loadCommandConfig): environment variables and config files an operator got wrong or an attacker
// wrote. A seeded generator draws, for each setting, values its kind must refuse (numbers with units, signs, hex and
// exponents, blanks, control characters, bidi overrides, 1 MB, non-http URLs, URLs carrying a password, JSON that is
// broken next to a secret, files that are not UTF-8 or whose keys carry escapes). Every case must:
//  - end as exit 78 (EX_CONFIG), never another error;
//  - name the setting (the variable, the config path or the file) on a problem line;
//  - keep every line printable and short: no raw control or format character, no line over MAX_LINE_CHARS, no stack;
//  - never echo a secret it was given (a password, an app secret), not even in part.
// CDRFLOW_FUZZ_CONFIG_SEED replays another seed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCommandConfig } from '../cli/app-config.ts';
import { ExitError } from '../cli/command.ts';
import { EXIT_CONFIG } from '../core/exit-codes.ts';
import { Rng, seededRandom } from '../simulators/kit.ts';

const SEED = Number(process.env['CDRFLOW_FUZZ_CONFIG_SEED'] ?? 7878);
/** A problem line long enough for a path, a reason and a quoted value cut at 200 characters. */
const MAX_LINE_CHARS = 600;
const MB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'cdrflow-config-hostile-'));
let files = 0;
const file = (ext: string, content: string | Buffer) => {
  const path = join(dir, `c${files++}.${ext}`);
  writeFileSync(path, content);
  return path;
};

interface Case {
  what: string;
  env?: Record<string, string>;
  file?: string;
  /** One of these must start a problem line: the variable (`env X`), the config path or the file. */
  names: string[];
  /** Never to be seen in the output, nor any 6 characters of it. */
  secret?: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const FORMAT = /[\p{Cf}\p{Zl}\p{Zp}]/u;

const NUMBER_JUNK = ['10s', '-1', '+5', '1e3', '0x10', '0b1', '1.5', '1_000', '٣', 'NaN', 'Infinity', '9'.repeat(400), ' ', '\t', '5\u0000', '70000', '0'];
function strange(r: Rng): string {
  return r.pick<() => string>([
    () => `x\u0000nul`,
    () => `x\u001b[31mred\u001b[0m`,
    () => 'x\r\nforged line',
    () => 'x\u202eevil\u2066',
    () => 'x\u0085nel\u200b',
    () => `x${'A'.repeat(MB)}`,
    () => '\udcff\udcfe',
    () => 'host with spaces:1',
  ])();
}

const secretOf = (r: Rng) => `S3cr3t${r.hex(10)}`;

function cases(r: Rng): Case[] {
  const out: Case[] = [];
  const envCase = (name: string, value: string, names: string[] = [`env ${name}`], extra: Record<string, string> = {}, secret?: string) =>
    out.push({ what: `${name}=${JSON.stringify(value.slice(0, 60))}`, env: { ...extra, [name]: value }, names, ...(secret ? { secret } : {}) });

  for (const name of ['CDRFLOW_PORT_BASE', 'CDRFLOW_OPS_PORT', 'KAFKA_SSL']) {
    for (let i = 0; i < 3; i++) envCase(name, r.chance(0.6) ? r.pick(NUMBER_JUNK.filter((v) => !(name === 'CDRFLOW_OPS_PORT' && v === '0'))) : strange(r));
  }
  for (let i = 0; i < 2; i++) envCase('TENCENT_CCC_SDKAPPIDS', `1400000001,${r.pick(NUMBER_JUNK.filter((v) => v.trim() !== ''))}`, ['env TENCENT_CCC_SDKAPPIDS'], { TENCENT_CCC_SECRET_ID: 'id', TENCENT_CCC_SECRET_KEY: 'key' });
  envCase('KAFKA_BROKERS', r.pick(['[::1]', 'h:', 'h:port', 'host with spaces:9092', strange(r)]), ['kafka.brokers']);
  envCase('CLICKHOUSE_DATABASE', r.pick(['x\u0000nul', 'x\u001b[31mred', 'x\u202eevil', 'my db', 'db;drop', '1db']), ['sink.database']);

  // URLs: a scheme no HTTP client should be handed, or a password inside the URL, which the status line shows.
  const oddUrl = () => r.pick(['file:///etc/passwd', 'javascript:alert(1)', 'data:text/plain,x', 'ftp://h/x', 'gopher://h:70/', 'ws://h:1/', 'http://ho st:1', 'http://', strange(r)]);
  for (let i = 0; i < 2; i++) {
    envCase('CLICKHOUSE_URL', oddUrl(), ['clickhouse.url']);
    envCase('SCHEMA_REGISTRY_URL', oddUrl(), ['schemaRegistry.url']);
    envCase('TENCENT_TRTC_BASE_URL', oddUrl(), ['connectors.tencent-trtc.baseUrl'], { TENCENT_TRTC_APPS: '1400000001:key' });
  }
  for (let i = 0; i < 2; i++) {
    const secret = secretOf(r);
    envCase('CLICKHOUSE_URL', r.pick([`http://default:${secret}@ch:8123`, `https://u:${secret}@[::1]:8443/`, `http://${secret}@ch:8123`]), ['clickhouse.url'], {}, secret);
  }

  // JSON-valued variables hold app secrets: a syntax error next to one must not quote it.
  for (const name of ['CDRFLOW_HUAWEI_APPS', 'CDRFLOW_LVMS_APPS']) {
    // Every shape, each with a secret of its own: V8 quotes the text around some syntax errors and not others.
    for (const shape of [(s: string) => `[{"appKey":"k","appSecret":${s}}]`, (s: string) => s, (s: string) => `[{"appKey":"k","appSecret":"${s}"}`, (s: string) => `[{"appKey":"k" "appSecret":"${s}"}]`, (s: string) => `[{appSecret:"${s}"}]`]) {
      const secret = secretOf(r);
      envCase(name, shape(secret), [`env ${name}`], {}, secret);
    }
  }

  // Files.
  {
    const secret = secretOf(r);
    const text = r.pick([`{"clickhouse": {"password": ${secret}}}`, `{"clickhouse": {"password": "${secret}" "username": "u"}}`, `{"kafka": {"sasl": {"username": "u", "password": ${secret}`]);
    const path = file('json', text);
    out.push({ what: `JSON file with a syntax error beside a secret: ${text}`, file: path, names: [path], secret });
  }
  {
    const path = file('yaml', Buffer.concat([Buffer.from('clickhouse:\n  password: "ab'), Buffer.from(r.pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xfe, 0xff]])), Buffer.from('cd"\n')]));
    out.push({ what: 'YAML file with bytes that are not UTF-8', file: path, names: [path] });
  }
  {
    const path = file('json', Buffer.concat([Buffer.from('{"clickhouse": {"username": "u'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}}')]));
    out.push({ what: 'JSON file with bytes that are not UTF-8', file: path, names: [path] });
  }
  for (let i = 0; i < 3; i++) {
    const key = r.pick([`k\u001b]0;title\u0007`, `k\u202eevil`, `k${'x'.repeat(MB - 64)}`, 'k\u0000nul', 'k\u2028ls']);
    const path = file('json', JSON.stringify({ clickhouse: { [key]: 1 } }));
    out.push({ what: `unknown key ${JSON.stringify(key.slice(0, 20))}`, file: path, names: ['clickhouse'] });
  }
  return out;
}

/** What loadCommandConfig ends with for `c`: the exit code and the message as printed, or the other error. */
function load(c: Case): { code: number; message: string } {
  try {
    loadCommandConfig({ file: c.file, env: c.env ?? {} });
  } catch (err) {
    if (err instanceof ExitError) return { code: err.code, message: err.message };
    return { code: -1, message: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err) };
  }
  return { code: 0, message: '' };
}

/** Everything wrong with the outcome of `c`, in words (empty: the case passed). */
function violations(c: Case): string[] {
  const { code, message } = load(c);
  const found: string[] = [];
  if (code !== EXIT_CONFIG) found.push(`exit ${code}, not ${EXIT_CONFIG}`);
  const lines = message.split('\n');
  const problemLines = lines.slice(1).map((l) => l.replace(/^ {2}- /, ''));
  if (!problemLines.some((l) => c.names.some((n) => l.startsWith(`${n}:`) || l.startsWith(`${n}.`) || l.startsWith(JSON.stringify(n))))) found.push(`no line names ${c.names.join(' or ')}`);
  lines.forEach((l, i) => {
    if (CONTROL.test(l)) found.push(`line ${i} carries a raw control character`);
    if (FORMAT.test(l)) found.push(`line ${i} carries a raw format character (bidi, zero-width, line separator)`);
    if (l.length > MAX_LINE_CHARS) found.push(`line ${i} is ${l.length} characters`);
    if (/^\s+at /.test(l)) found.push(`line ${i} is a stack frame`);
  });
  if (c.secret !== undefined) {
    for (let i = 0; i + 6 <= c.secret.length; i++) {
      if (message.includes(c.secret.slice(i, i + 6))) {
        found.push(`the secret is echoed (${c.secret.slice(i, i + 6)}…)`);
        break;
      }
    }
  }
  return found;
}

describe('the configuration surface under hostile input', () => {
  it(`refuses every drawn value with one safe line naming the setting, exit 78 (seed ${SEED})`, () => {
    const report = cases(new Rng(seededRandom(SEED))).flatMap((c) => violations(c).map((v) => `${c.what.slice(0, 120)}: ${v}`));
    expect(report).toEqual([]);
  });
});
