// Fuzz (f): the `cdrflow` command line, run as a user runs it (`node bin/cdrflow.mjs …`, a child process each). A
// seeded generator builds, for every command (and `help`, the global flags, an unknown command), argv that is certainly
// invalid, from the command's real flags (cli/commands/*.ts): unknown flags (near misses of real ones, random, odd
// shapes), a value-taking flag without its value or at the end, a value that looks like a flag, a boolean given a
// value, a flag given twice, numbers such as "", " ", "0x10", "1e3", "-1", "1.5", "NaN", "Infinity", 400 digits, "٣",
// enum and vendor values that are not one, too many positionals, `--` separators, empty strings, 100 KB arguments,
// newlines, control characters and lone surrogates, in both `--flag=value` and `--flag value` form, and a missing
// config file where a later check would stop the command anyway. Plus the valid, harmless invocations: `--version`,
// `--help`, no command, `help <command>` and `<command> --help` for every command.
//
// Properties (numbered as in the campaign's brief; every violation is collected with its case number and argv and
// reported per property at the end, so one run shows them all):
//  P1 an invalid argv exits 64 (EX_USAGE), or 78 (EX_CONFIG) where the code documents it (a config file that cannot be
//     read or an invalid config section: cli/app-config.ts); never 0, 1 or a signal, and within EXIT_WITHIN_MS.
//  P2 its stderr, apart from the command's usage text that a usage error reprints (cli/main.ts), is at most 20 lines
//     and 4 KB, names the offending flag or value, and holds no stack trace, no `…Error:` dump and no raw control
//     character (C0 but newline and tab, DEL, C1), nor a newline or tab of an argument echoed back raw.
//  P3 nothing is touched: stdout is empty, the loopback trap every endpoint points at (Kafka, schema registry,
//     ClickHouse, ops port) sees no connection, and the process's working, data, cache, home and temp directories
//     stay empty.
//  PV a valid harmless invocation exits 0 with the usage (or version) on stdout, nothing on stderr, nothing touched.
//  P0 (in-process, never run) a value the campaign's model of a flag calls invalid is refused by the validator the
//     command applies to it (cli/args.ts, reconcile/days.ts): the generator only runs values the command's own
//     validator refuses, so an accepted one is reported here instead of being run (it could start work).
//
// Safety: only argv rejected before the command does anything runs. Each child gets a fresh environment (no
// credentials, no config) whose KAFKA_BROKERS, SCHEMA_REGISTRY_URL, CLICKHOUSE_URL and CDRFLOW_OPS_PORT all name a
// loopback trap of its lane, a CDRFLOW_PORT_BASE no local stack uses, and temporary CLICKHOUSE_DATA_DIR,
// CDRFLOW_CACHE_DIR, HOME, TMPDIR and working directory; where the command allows it, a later check (a config file
// that does not exist, an action that is none, no credentials) would stop it even if the planted defect were missed.
// Children run LANES at a time, each killed after KILL_AFTER_MS.
//
// The same seed builds the same argv, so a failure replays: CDRFLOW_FUZZ_CLI_FLAGS_SEED, CDRFLOW_FUZZ_CLI_FLAGS_COUNT
// (invalid cases), CDRFLOW_FUZZ_CLI_FLAGS_ONLY=3,17 (run only those case numbers of that seed), and
// CDRFLOW_FUZZ_CLI_FLAGS_LIST=1 prints every case before it runs. The invalid cases' timeout grows with the cases run
// as a seeded campaign's does (test/fuzz/seeds.ts scaledTimeoutMs, CDRFLOW_FUZZ_TIMEOUT_MS), so a wide sweep (a
// large _COUNT) needs no chunking; their seed is one, so _ONLY names cases, not seeds, and no campaignSeeds here.
//
// Cost: a child costs 0.3-0.45 s of CPU when it loads its command (a help or an unknown command 0.1 s), so the default
// (84 invalid + 40 valid) is about 30 s of CPU: ~15 s on an idle 2-core machine, well under 40 s on a loaded one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distIsFresh } from '../../bin/dist-state.mjs';
import { integer, isoDateTime, numberWithin, port, positiveNumber } from '../../cli/args.ts';
import { LOG_LEVELS } from '../../core/log.ts';
import { VENDORS } from '../../core/topology.ts';
import { quote } from '../../core/input-limits.ts';
import { parseDay, parseTzOffset } from '../../reconcile/days.ts';
import { MAX_SEED, Rng, seededRandom } from '../../simulators/kit.ts';
import { scaledTimeoutMs } from './seeds.ts';

const SEED = Number(process.env.CDRFLOW_FUZZ_CLI_FLAGS_SEED ?? 6464);
const DEFAULT_COUNT = 84;
const COUNT = Number(process.env.CDRFLOW_FUZZ_CLI_FLAGS_COUNT ?? DEFAULT_COUNT);
const ONLY = new Set((process.env.CDRFLOW_FUZZ_CLI_FLAGS_ONLY ?? '').split(',').filter(Boolean).map(Number));
/** The invalid cases' timeout: 180 s for the default count, grown with the cases run. */
const INVALID_TIMEOUT_MS = scaledTimeoutMs(180_000, ONLY.size > 0 ? ONLY.size : COUNT, DEFAULT_COUNT);
/** CDRFLOW_FUZZ_CLI_FLAGS_LIST=1: print every planned case (number, family, argv, expected exit) before running it. */
const LIST = process.env.CDRFLOW_FUZZ_CLI_FLAGS_LIST === '1';
/** Children at a time: each is mostly Node's start-up, so a few more than the cores keeps them busy. */
const LANES = 4;
/** "Within a few seconds" on a loaded machine (an idle one answers in about 0.3 s). */
const EXIT_WITHIN_MS = 10_000;
const KILL_AFTER_MS = 20_000;
const MAX_MESSAGE_LINES = 20;
const MAX_MESSAGE_BYTES = 4096;
/** A port base no stack uses (.data/infra-<base> must never appear). */
const PORT_BASE = 47_300;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/cdrflow.mjs');
const KB100 = 100 * 1024;

const COMMANDS = ['backfill', 'dlq', 'import', 'infra', 'migrate', 'normalize', 'poll', 'receive', 'reconcile', 'recording', 'replay', 'run', 'schemas', 'simulate', 'sql', 'start', 'status', 'tail'] as const;
type CommandName = (typeof COMMANDS)[number];

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-cli-flags-fuzz-'));
/** Never created: a config file argument that cannot be read (exit 78), the backstop of many cases. */
const NO_CONFIG = join(dir, 'absent', 'cdrflow.yaml');

// ---------------------------------------------------------------------------------------------------------------
// The commands' flags, as cli/commands/*.ts declare them, and what each command checks after parseFlags, in order.

interface FlagDef {
  type: 'string' | 'boolean';
  short?: string;
}
type Flags = Record<string, FlagDef>;
const S: FlagDef = { type: 'string' };
const B: FlagDef = { type: 'boolean' };
const PULL_FLAGS: Flags = { config: S, rps: S, topic: S, 'checkpoint-topic': S, endpoint: S, protocol: S, 'connect-address': S, 'base-url': S };

interface CommandModel {
  flags: Flags;
  /** Positionals the usage allows (backfill's code takes any number; its usage names one). */
  maxPositionals: number;
  /** Positionals that make the command stop anyway (a vendor, action or stage that is none), for the parse-level cases. */
  decoys: string[];
  /**
   * `--config <absent>` stops the command (78) after every parse-level check and before any work: 'always' where
   * nothing else would stop a well-formed argv, 'often' where something else would too (no credentials, no stage).
   */
  configBackstop: 'always' | 'often' | 'never';
}

const MODEL: Record<CommandName, CommandModel> = {
  backfill: { flags: { ...PULL_FLAGS, tenant: S, from: S, to: S, 'window-sec': S, json: B }, maxPositionals: 1, decoys: ['tencent-cc', 'alibaba-lvms'], configBackstop: 'often' },
  dlq: { flags: { latest: S, json: B, config: S }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  import: { flags: { file: S, tenant: S, topic: S, batch: S, config: S }, maxPositionals: 1, decoys: ['huawei', 'tencent-ccc'], configBackstop: 'never' },
  infra: { flags: { 'port-base': S, force: B, config: S }, maxPositionals: 1, decoys: ['upp', 'stat', 'restart', 'Down'], configBackstop: 'never' },
  migrate: { flags: { config: S, database: S, cluster: S, print: B }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  normalize: { flags: { vendor: S, tenant: S, options: S }, maxPositionals: 0, decoys: [], configBackstop: 'never' },
  poll: { flags: { ...PULL_FLAGS, once: B }, maxPositionals: 1, decoys: ['tencent', 'huawei-privatenumber'], configBackstop: 'often' },
  receive: { flags: { config: S, host: S, port: S, 'ops-port': S }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  reconcile: { flags: { from: S, to: S, vendor: S, tenant: S, tz: S, settle: S, repair: B, json: B, config: S }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  recording: { flags: { config: S, record: S, topic: S, 'base-url': S, json: B }, maxPositionals: 1, decoys: ['huawei-privatenumber:fuzzapp:fuzzsession', 'tencent-ccc:a:b'], configBackstop: 'often' },
  replay: { flags: { config: S, vendor: S, group: S, 'dry-run': B }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  run: { flags: { config: S, instance: S }, maxPositionals: 1, decoys: ['normalise', 'sinks', 'dlq'], configBackstop: 'often' },
  schemas: { flags: { registry: S, config: S }, maxPositionals: 1, decoys: ['regster', 'chek'], configBackstop: 'never' },
  simulate: { flags: { port: S, rate: S, history: S, to: S, total: S, malformed: S, seed: S }, maxPositionals: 1, decoys: ['tencent', 'huawei', 'lvms'], configBackstop: 'never' },
  sql: { flags: { format: { type: 'string', short: 'f' }, config: S }, maxPositionals: 1, decoys: [' ', ''], configBackstop: 'often' },
  start: { flags: { config: S, demo: B, rate: S }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  status: { flags: { json: B, config: S }, maxPositionals: 0, decoys: [], configBackstop: 'always' },
  tail: { flags: { 'from-beginning': B, last: S, follow: { type: 'boolean', short: 'f' }, format: S, list: B, config: S }, maxPositionals: 1, decoys: ['cdr.fuzz.none'], configBackstop: 'always' },
};

/** Words cli/main.ts acts on as the command (or takes out wherever they stand): never an unknown command. */
const RESERVED_NAMES = new Set([...COMMANDS, 'help', 'version', '--help', '-h', '--version', '-V', '--color', '--no-color', '--log-level']);

// ---------------------------------------------------------------------------------------------------------------
// Values: harmless words, strange strings, numbers that are no number.

const WORDS = ['x', 'fuzz', 'a.b', 'tenant-1', '42', 'cdr.raw.x', 'http://127.0.0.1:1', 'T', 'ab_c'];
const NUMERIC_JUNK = [
  '', ' ', '0x10', '1e3', '-1', '1.5', 'NaN', 'Infinity', '-Infinity', '9'.repeat(400), `1${'0'.repeat(399)}`, '٣', '１２', '+', '-', '1_000',
  '1,000', '0b101', ' 5', '5 ', '5\n', '\t7', '9007199254740993', '0', '00', '-0', '+5', '.5', '5.', '1e-3', '1/2', '5abc', '70000', '65536', '1023', '65001',
];

function strange(r: Rng): string {
  return r.pick<() => string>([
    () => `fuzz${'A'.repeat(KB100)}`,
    () => 'fuzz\nsecond line',
    () => 'fuzz\r\ncrlf',
    () => 'fuzz\x1b[31mred\x1b[0m',
    () => 'fuzz\x07bell\x08\x7f',
    () => 'fuzz\u0085nel',
    () => 'fuzz\ud800lone',
    () => 'fuzz\udc00low',
    () => '\ufffd\ufffe',
    () => 'fuzz\u202eevil',
    () => 'fuzz"quote\'\\back',
    () => 'fuzz\ttab',
    () => '%s%d${x}$(id)',
    () => '',
    () => ' ',
    () => 'тест呼叫📞',
    () => `fuzz${r.hex(6)}`,
  ])();
}

/** A value for a flag or positional: mostly plain, sometimes strange. */
const someValue = (r: Rng) => (r.chance(0.6) ? r.pick(WORDS) : strange(r));

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** How a message may name `v`: its printable start (cut: a 100 KB value should not be echoed whole). */
function shown(v: string): string[] {
  if (v === '') return ['""'];
  // A lone surrogate reaches the child as U+FFFD (argv is UTF-8).
  const printable = v.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd').split(ANY_CONTROL)[0]!;
  return printable.trim().length >= 3 ? [printable.slice(0, 24)] : [];
}

/** An edit of `name` that is none of `avoid`: a deletion, insertion, substitution, swap, other case or a prefix. */
function nearMiss(r: Rng, name: string, avoid: ReadonlySet<string>): string | undefined {
  for (let attempt = 0; attempt < 30; attempt++) {
    const i = r.int(0, name.length - 1);
    const c = r.pick([...'abcdefghijklmnopqrstuvwxyz-_0']);
    const m = [
      () => name.slice(0, i) + name.slice(i + 1),
      () => name.slice(0, i) + c + name.slice(i),
      () => name.slice(0, i) + c + name.slice(i + 1),
      () => (i < name.length - 1 ? name.slice(0, i) + name[i + 1]! + name[i]! + name.slice(i + 2) : `${name}s`),
      () => name.toUpperCase(),
      () => name.slice(0, Math.max(2, i)),
    ][r.int(0, 5)]!();
    if (m !== '' && !m.startsWith('-') && !avoid.has(m) && !avoid.has(`--${m}`)) return m;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases.

interface Case {
  id: number;
  family: string;
  /** What the case is about, for the report. */
  what: string;
  argv: string[];
  expect: 64 | 78;
  /** The message names at least one of these (case-insensitive); empty: nothing printable to name. */
  names: string[];
  command: CommandName | undefined;
}
type Planned = Omit<Case, 'id'>;

const PROPS = ['P0', 'P1', 'P2', 'P3', 'PV'] as const;
type Prop = (typeof PROPS)[number];
const violations = new Map<Prop, string[]>();
const violate = (p: Prop, label: string, detail: string) => violations.set(p, [...(violations.get(p) ?? []), `${label}: ${detail}`]);
/** Text as the report shows it: JSON-escaped (C1 and the line separators too), long text cut with its length. */
const escaped = (s: string) => JSON.stringify(s).replace(/[\u0080-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const arg = (s: string) => (s.length > 60 ? `${escaped(s.slice(0, 40))}…(${s.length} chars)` : escaped(s));
const argvText = (argv: string[]) => `[${argv.map(arg).join(' ')}]`;
const caseLabel = (c: Case) => `#${c.id} ${c.family} ${c.what} argv=${argvText(c.argv)}`;
/** Values the model calls invalid that a validator took, reported once each under P0. */
const acceptedSeen = new Set<string>();

/**
 * A value for a flag checked after parsing: the model says whether it should be accepted, `code` is the command's own
 * validator (it throws on a value it refuses). Returns the value when both refuse it; undefined when it is valid (never
 * run: it could start work) or when the code takes what the model refuses (reported under P0, not run).
 */
function refused(command: string, flag: string, value: string, model: (v: string) => boolean, code: (v: string) => unknown): string | undefined {
  if (model(value)) return undefined;
  try {
    code(value);
  } catch {
    return value;
  }
  const key = `${command} ${flag} ${value}`;
  if (!acceptedSeen.has(key)) {
    acceptedSeen.add(key);
    violate('P0', `${command} ${flag}`, `${arg(value)} is taken by the command's parser although the usage rules it out (not run)`);
  }
  return undefined;
}

/** `--flag value` or `--flag=value` (a value starting with "-" in the first form is itself a parse error naming the flag). */
const flagWith = (r: Rng, flag: string, value: string) => (r.chance(0.5) ? [`--${flag}=${value}`] : [`--${flag}`, value]);

// Independent models of what each validated value may be (from the usage texts), and the code's validators.
const DIGITS = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const intIn = (min: number, max: number) => (v: string) => DIGITS.test(v) && Number.isSafeInteger(Number(v)) && Number(v) >= min && Number(v) <= max;
const numIn = (min: number, max: number) => (v: string) => DECIMAL.test(v) && Number.isFinite(Number(v)) && Number(v) >= min && Number(v) <= max;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const isoModel = (v: string) => ISO_DATE_TIME.test(v) && !Number.isNaN(new Date(v).getTime()) && new Date(`${v.slice(0, 10)}T00:00:00Z`).toISOString().slice(0, 10) === v.slice(0, 10);
const dayModel = (v: string) => v === 'today' || v === 'yesterday' || (/^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) === v);
const tzModel = (v: string) => ['UTC', 'Z', '+00:00'].includes(v) || (/^[+-]\d{2}:?00$/.test(v) && Number(v.slice(1, 3)) <= 14);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const identifier = (what: string) => (v: string) => {
  if (!IDENT.test(v)) throw new Error(`${what} "${v}" is not a plain identifier`);
};

const BAD_DATES = ['', ' ', 'yesterday', 'tomorrow', '2024-13-01', '2024-02-30', '1', '0', '-1', 'March 7', '2024-01-01T25:00:00Z', '2024-01-01\n', ' 2024-01-01', '2024/01/01', '٢٠٢٤-٠١-٠١', 'Infinity', 'NaN', '1e3'];
const BAD_DAYS = [...BAD_DATES, '2024-1-1', '24-01-01', '2024-01-01T00:00:00Z', 'TODAY', 'today '];
const BAD_TZ = ['', ' ', '+8', '+08:30', '+15:00', '-14:01', 'GMT+8', 'utc', 'Asia/Shanghai', '+08:00\n', '٠٨:٠٠', '0800', '+0800 ', 'Z '];
const NOT_VENDORS = ['tencent', 'tencent-cc', 'Tencent-CCC', 'huawei', 'alibaba', 'alibaba-lvms ', ' tencent-trtc', 'tencent_ccc', 'tencent-ccc\n'];

function badNumber(r: Rng, command: string, flag: string, model: (v: string) => boolean, code: (v: string) => unknown): string | undefined {
  return refused(command, flag, r.chance(0.85) ? r.pick(NUMERIC_JUNK) : strange(r), model, code);
}

/** A vendor-like word that is no vendor (or, for the pull commands, a push vendor). */
const notVendor = (r: Rng, allowed: readonly string[]) => {
  const v = r.chance(0.7) ? r.pick([...NOT_VENDORS, ...VENDORS.filter((x) => !allowed.includes(x))]) : strange(r);
  return allowed.includes(v) ? 'tencent-ccx' : v;
};

/** The command-specific checks after parseFlags, each case planting one defect in an argv whose earlier checks pass. */
function semanticCase(r: Rng, command: CommandName): Planned | undefined {
  const plan = (what: string, argv: string[], names: string[], expect: 64 | 78 = 64): Planned => ({ family: 'S', what, argv: [command, ...argv], names, expect, command });
  const config = (p = 1) => (r.chance(p) ? ['--config', NO_CONFIG] : []);
  const configCase = (pre: string[]) => plan('config file that cannot be read', [...pre, ...flagWith(r, 'config', r.chance(0.7) ? NO_CONFIG : join(dir, 'absent', strange(r)))], ['cannot read'], 78);
  switch (command) {
    case 'backfill': {
      const vendor = r.pick(['tencent-ccc', 'tencent-trtc']);
      const ok = { tenant: ['--tenant', 't1'], from: ['--from', '2024-01-01T00:00:00Z'], to: ['--to', '2024-01-02T00:00:00Z'] };
      switch (r.int(0, 7)) {
        case 0: {
          const v = notVendor(r, ['tencent-ccc', 'tencent-trtc']);
          return plan('not a pull vendor', [v, ...ok.tenant, ...ok.from, ...ok.to], ['vendor', ...shown(v)]);
        }
        case 1:
          return plan('no --tenant', [vendor, ...(r.chance(0.5) ? ['--tenant='] : []), ...ok.from, ...ok.to], ['--tenant']);
        case 2: {
          const v = refused('backfill', '--from', r.pick(BAD_DATES), isoModel, (x) => isoDateTime('--from', x));
          return v === undefined ? undefined : plan('--from no ISO date-time', [vendor, ...ok.tenant, ...flagWith(r, 'from', v), ...ok.to], ['--from']);
        }
        case 3: {
          const v = refused('backfill', '--to', r.pick(BAD_DATES), isoModel, (x) => isoDateTime('--to', x));
          return v === undefined ? undefined : plan('--to no ISO date-time', [vendor, ...ok.tenant, ...ok.from, ...flagWith(r, 'to', v)], ['--to']);
        }
        case 4:
          return plan('--to not after --from', [vendor, ...ok.tenant, '--from', '2024-01-02T00:00:00Z', '--to', r.pick(['2024-01-02T00:00:00Z', '2024-01-01T00:00:00Z'])], ['--to']);
        case 5: {
          const v = badNumber(r, 'backfill', '--window-sec', intIn(1, Infinity), (x) => integer('--window-sec', x, { min: 1 }));
          return v === undefined ? undefined : plan('--window-sec no positive integer', [vendor, ...ok.tenant, ...ok.from, ...ok.to, ...flagWith(r, 'window-sec', v)], ['--window-sec']);
        }
        case 6: {
          // "" too: a value given and empty is no number (cli/pull-connector.ts skips an empty --rps).
          const v = refused('backfill', '--rps', r.chance(0.2) ? '' : r.pick(NUMERIC_JUNK), numIn(Number.MIN_VALUE, Infinity), (x) => positiveNumber('--rps', x));
          return v === undefined ? undefined : plan('--rps no positive number', [vendor, ...ok.tenant, ...ok.from, ...ok.to, ...flagWith(r, 'rps', v)], ['--rps']);
        }
        default:
          return configCase([vendor, ...ok.tenant, ...ok.from, ...ok.to]);
      }
    }
    case 'dlq': {
      const v = badNumber(r, 'dlq', '--latest', intIn(1, Infinity), (x) => integer('--latest', x, { min: 1 }));
      return v === undefined ? undefined : plan('--latest no positive integer', [...config(), ...flagWith(r, 'latest', v)], ['--latest']);
    }
    case 'import': {
      const vendor = r.pick(['huawei-privatenumber', 'alibaba-lvms']);
      // Never a --file: the options are refused without one even if the planted defect were missed.
      switch (r.int(0, 3)) {
        case 0: {
          const v = notVendor(r, ['huawei-privatenumber', 'alibaba-lvms']);
          return plan('not an import vendor', [v, '--tenant', 't1'], ['vendor']);
        }
        case 1: {
          const v = badNumber(r, 'import', '--batch', intIn(1, 10_000), (x) => integer('--batch', x, { min: 1, max: 10_000 }));
          return v === undefined ? undefined : plan('--batch no integer 1..10000', [vendor, ...flagWith(r, 'batch', v)], ['batch']);
        }
        case 2:
          return plan('empty --tenant', [vendor, '--tenant='], ['tenant']);
        default:
          return plan('empty --topic', [vendor, '--topic='], ['topic']);
      }
    }
    case 'infra': {
      const action = r.pick(MODEL.infra.decoys);
      switch (r.int(0, 3)) {
        case 0: {
          const v = badNumber(r, 'infra', '--port-base', intIn(1024, 65_000), (x) => integer('--port-base', x, { min: 1024, max: 65_000 }));
          return v === undefined ? undefined : plan('--port-base no integer 1024..65000', [...(r.chance(0.7) ? [action] : []), ...flagWith(r, 'port-base', v)], ['--port-base']);
        }
        case 1: {
          const a = r.chance(0.6) ? action : strange(r);
          return plan('no such action', [a, '--port-base', String(PORT_BASE)], ['action', ...shown(a)]);
        }
        case 2:
          return plan('no action', ['--port-base', String(PORT_BASE), ...(r.chance(0.5) ? ['--force'] : [])], ['action']);
        default:
          return configCase(r.chance(0.5) ? [action] : []);
      }
    }
    case 'migrate': {
      const print = r.chance(0.5) ? ['--print'] : [];
      const bad = r.chance(0.7) ? r.pick(['', '1db', 'a b', 'db;DROP', 'db-1', 'db.x', 'дб', '_ok\n', '`x`', 'db ']) : strange(r);
      switch (r.int(0, 2)) {
        case 0: {
          const v = refused('migrate', '--database', bad, (x) => IDENT.test(x), identifier('database'));
          return v === undefined ? undefined : plan('--database no identifier', [...print, ...flagWith(r, 'database', v)], ['database']);
        }
        case 1: {
          const v = refused('migrate', '--cluster', bad, (x) => IDENT.test(x), identifier('cluster'));
          return v === undefined ? undefined : plan('--cluster no identifier', [...print, ...(r.chance(0.5) ? ['--database', 'fuzz_db'] : []), ...flagWith(r, 'cluster', v)], ['cluster']);
        }
        default:
          return configCase(['--database', '1bad', ...print]);
      }
    }
    case 'normalize': {
      switch (r.int(0, 3)) {
        case 0:
          return plan('no --vendor', ['--tenant', 't1'], ['--vendor']);
        case 1: {
          const v = notVendor(r, VENDORS);
          return plan('unknown --vendor', flagWith(r, 'vendor', v), ['--vendor', 'vendor', ...shown(v)]);
        }
        case 2:
          return plan('blank --tenant', ['--vendor', r.pick(VENDORS), ...flagWith(r, 'tenant', r.pick(['', ' ', '\t', '  \n']))], ['--tenant']);
        default:
          return plan('--options not a readable JSON file', ['--vendor', r.pick(VENDORS), ...flagWith(r, 'options', r.pick([NO_CONFIG, dir, join(dir, 'absent', strange(r))]))], ['--options']);
      }
    }
    case 'poll': {
      const vendor = r.pick(['tencent-ccc', 'tencent-trtc']);
      switch (r.int(0, 3)) {
        case 0: {
          const v = notVendor(r, ['tencent-ccc', 'tencent-trtc']);
          return plan('not a pull vendor', [v, ...(r.chance(0.5) ? ['--once'] : [])], ['vendor', ...shown(v)]);
        }
        case 1: {
          const v = refused('poll', '--rps', r.chance(0.2) ? '' : r.pick(NUMERIC_JUNK), numIn(Number.MIN_VALUE, Infinity), (x) => positiveNumber('--rps', x));
          return v === undefined ? undefined : plan('--rps no positive number', [vendor, ...config(0.5), ...flagWith(r, 'rps', v)], ['--rps']);
        }
        case 2: {
          const v = r.pick(['ftp', 'HTTP', 'https ', 'http\n', 'tcp']);
          // No credentials in the environment: the section the flag creates is invalid as a whole (78, every problem).
          return plan('--protocol neither http nor https', ['tencent-ccc', ...flagWith(r, 'protocol', v)], ['protocol'], 78);
        }
        default:
          return configCase([vendor]);
      }
    }
    case 'receive': {
      const flag = r.pick(['port', 'ops-port']);
      const v = badNumber(r, 'receive', `--${flag}`, intIn(0, 65_535), (x) => port(`--${flag}`, x));
      return v === undefined ? undefined : plan(`--${flag} no port number`, [...config(0.7), ...flagWith(r, flag, v)], [`--${flag}`]);
    }
    case 'reconcile': {
      const from = ['--from', '2024-01-01'];
      const to = ['--to', '2024-01-02'];
      switch (r.int(0, 6)) {
        case 0: {
          const v = refused('reconcile', '--tz', r.pick(BAD_TZ), tzModel, parseTzOffset);
          return v === undefined ? undefined : plan('--tz no whole-hour offset', [...config(), ...from, ...to, ...flagWith(r, 'tz', v)], ['--tz']);
        }
        case 1: {
          const v = r.chance(0.3) ? undefined : refused('reconcile', '--from', r.pick(BAD_DAYS), dayModel, (x) => parseDay('--from', x));
          return plan(v === undefined ? 'no --from' : '--from no day', [...config(), ...(v === undefined ? [] : flagWith(r, 'from', v)), ...to], ['--from']);
        }
        case 2: {
          const v = r.chance(0.3) ? undefined : refused('reconcile', '--to', r.pick(BAD_DAYS), dayModel, (x) => parseDay('--to', x));
          return plan(v === undefined ? 'no --to' : '--to no day', [...config(), ...from, ...(v === undefined ? [] : flagWith(r, 'to', v))], ['--to']);
        }
        case 3:
          return plan('--to before --from', [...config(), '--from', '2024-01-02', '--to', r.pick(['2024-01-01', '2023-12-31'])], ['--to']);
        case 4: {
          const v = notVendor(r, VENDORS);
          return plan('unknown --vendor', [...config(), ...from, ...to, '--vendor', 'tencent-ccc', ...flagWith(r, 'vendor', v)], ['--vendor']);
        }
        case 5: {
          const v = badNumber(r, 'reconcile', '--settle', intIn(0, Infinity), (x) => integer('--settle', x, { min: 0 }));
          return v === undefined ? undefined : plan('--settle no integer ≥ 0', [...from, ...to, ...flagWith(r, 'settle', v)], ['--settle']);
        }
        default:
          return configCase([...from, ...to, '--settle', 'NaN']);
      }
    }
    case 'recording': {
      switch (r.int(0, 2)) {
        case 0:
          return plan('no cdr_id', [...config(0.5), ...(r.chance(0.5) ? ['--json'] : [])], ['cdr_id']);
        case 1: {
          const id = r.pick(['huawei-privatenumber:', 'huawei-privatenumber:abc', 'huawei-privatenumber::s', 'huawei-privatenumber:a:', 'tencent-ccc:a:b', 'HUAWEI-PRIVATENUMBER:a:b', '', ' huawei-privatenumber:a:b', strange(r)]);
          return plan('no Huawei cdr_id', [...config(0.5), id], ['cdr_id']);
        }
        default:
          return configCase(['huawei-privatenumber:fuzzapp:fuzzsession']);
      }
    }
    case 'replay': {
      if (r.chance(0.6)) {
        const v = notVendor(r, VENDORS);
        return plan('unknown --vendor', [...config(), ...(r.chance(0.5) ? ['--vendor', 'alibaba-lvms'] : []), ...flagWith(r, 'vendor', v)], ['--vendor']);
      }
      return plan('empty --group', [...config(), '--group='], ['--group']);
    }
    case 'run': {
      const stage = r.chance(0.2) ? undefined : r.chance(0.7) ? r.pick(['', 'normalise', 'Sink', 'dlq', 'dlq_loader', 'sink ', 'all']) : strange(r);
      return plan(stage === undefined ? 'no stage' : 'no such stage', [...config(), ...(stage === undefined ? [] : [stage]), ...(r.chance(0.4) ? ['--instance', 'i1'] : [])], ['stage']);
    }
    case 'schemas': {
      if (r.chance(0.25)) return configCase([]);
      const action = r.chance(0.2) ? undefined : r.chance(0.7) ? r.pick(['', 'regster', 'Check', 'register ', 'list', 'checks']) : strange(r);
      return plan(action === undefined ? 'no action' : 'no such action', [...(action === undefined ? [] : [action]), ...(r.chance(0.3) ? ['--registry', `http://127.0.0.1:1/fuzz`] : [])], ['action']);
    }
    case 'simulate': {
      if (r.chance(0.3)) {
        const v = r.chance(0.2) ? undefined : notVendor(r, VENDORS);
        return plan(v === undefined ? 'no vendor' : 'no such vendor', [...(v === undefined ? [] : [v]), ...(r.chance(0.5) ? ['--rate', '2'] : [])], ['vendor']);
      }
      const vendor = r.pick(VENDORS);
      // The usage's rules, a little stricter than the code where the code is loose (see P0), each beside the code's
      // own validator for that flag (simulate.ts's parse): a value the code refuses (--malformed 1e3, past its 1;
      // --port 1.5, not an integer) is not reported as taken.
      const rules: Record<string, [(v: string) => boolean, (v: string) => unknown]> = {
        port: [intIn(0, 65_535), (x) => port('--port', x)],
        rate: [numIn(0.001, Infinity), (x) => numberWithin('--rate', x, 0.001, Infinity)],
        history: [numIn(0, Infinity), (x) => numberWithin('--history', x, 0, Infinity)],
        total: [numIn(1, Infinity), (x) => integer('--total', x, { min: 1 })],
        malformed: [numIn(0, 1), (x) => numberWithin('--malformed', x, 0, 1)],
        seed: [numIn(0, Infinity), (x) => integer('--seed', x, { min: 0, max: MAX_SEED })],
      };
      const flag = r.pick(Object.keys(rules));
      const [model, code] = rules[flag]!;
      const v = badNumber(r, 'simulate', `--${flag}`, model, code);
      return v === undefined ? undefined : plan(`--${flag} no number`, [vendor, ...flagWith(r, flag, v)], [`--${flag}`]);
    }
    case 'sql': {
      switch (r.int(0, 3)) {
        case 0:
          return plan('no query', [...config(0.5), ...(r.chance(0.5) ? ['--format', 'CSV'] : [])], ['query']);
        case 1:
          return plan('empty query', [r.pick(['', ' ', '\t', '\n', '-']), ...config(0.5)], ['query']);
        case 2: {
          const v = r.chance(0.7) ? r.pick(['', 'CSV;', 'JSON Each', 'TSV\n', 'Pretty-Compact', '1', 'CSV ', 'Ｊｓｏｎ', '../x']) : strange(r);
          const flag = r.chance(0.3) ? [`-f${v}`] : flagWith(r, 'format', v);
          if (/^[A-Za-z]+$/.test(v)) return undefined;
          return plan('--format no format name', [r.chance(0.5) ? ' ' : 'SELECT 1', ...config(), ...flag], ['format']);
        }
        default:
          return plan('empty --config', [' ', '--config=', ...(r.chance(0.5) ? ['--format', 'TSV'] : [])], ['--config']);
      }
    }
    case 'start': {
      if (r.chance(0.5)) {
        const v = refused('start', '--rate', r.pick(NUMERIC_JUNK), numIn(Number.MIN_VALUE, Infinity), (x) => positiveNumber('--rate', x));
        return v === undefined ? undefined : plan('--rate no positive number', [...config(), '--demo', ...flagWith(r, 'rate', v)], ['--rate']);
      }
      return plan('--rate without --demo', [...config(), '--rate', r.pick(['1', '4', '0.5'])], ['--rate']);
    }
    case 'status':
      return plan('empty --config', [...(r.chance(0.5) ? ['--json'] : []), '--config='], ['--config']);
    case 'tail': {
      const topic = r.pick(['cdr.fuzz.none', 'cdr.raw.tencent-ccc', 'cdr.dlq']);
      switch (r.int(0, 4)) {
        case 0:
          return plan('no topic', [...(r.chance(0.5) ? ['--follow'] : []), ...(r.chance(0.5) ? ['--format', 'json'] : [])], ['topic']);
        case 1:
          return plan('--from-beginning with --last', [topic, '--from-beginning', '--last', r.pick(['1', '5'])], ['--from-beginning', '--last']);
        case 2: {
          const v = r.chance(0.7) ? r.pick(['', 'JSON', 'xml', 'csv', 'json ', 'tables', 'json\n']) : strange(r);
          if (v === 'json' || v === 'table') return undefined;
          // A --last no number after it: checked later, it stops the command if the format were missed.
          return plan('--format neither json nor table', [topic, ...flagWith(r, 'format', v), '--last=NaN'], ['--format']);
        }
        case 3: {
          const v = badNumber(r, 'tail', '--last', intIn(1, Infinity), (x) => integer('--last', x, { min: 1 }));
          return v === undefined ? undefined : plan('--last no positive integer', [topic, ...flagWith(r, 'last', v)], ['--last']);
        }
        default:
          return configCase([]);
      }
    }
  }
}

/** A parse-level defect (cli/args.ts parseFlags), planted after a well-formed prefix: it is the first error whatever the flags. */
function parseCase(r: Rng, command: CommandName): Planned | undefined {
  const m = MODEL[command];
  const flagNames = Object.keys(m.flags);
  const stringFlags = flagNames.filter((f) => m.flags[f]!.type === 'string');
  const boolFlags = flagNames.filter((f) => m.flags[f]!.type === 'boolean');
  const shorts = new Set(flagNames.map((f) => m.flags[f]!.short).filter((s): s is string => s !== undefined));
  const avoid = new Set([...flagNames, 'help', 'h', 'color', 'no-color', 'log-level', 'version']);
  // The well-formed prefix, in units that stay together: a string flag with a plain value, a boolean, a decoy
  // positional (a vendor, action or stage that is none), the backstop `--config <absent>`. A flag may come twice.
  const units: string[][] = [];
  for (let i = r.int(0, 3); i > 0; i--) {
    const f = r.pick(flagNames.filter((x) => x !== 'config'))!;
    units.push(m.flags[f]!.type === 'boolean' ? [`--${f}`] : flagWith(r, f, r.pick(WORDS)));
  }
  if (m.configBackstop === 'always' || (m.configBackstop === 'often' && r.chance(0.6))) units.push(['--config', NO_CONFIG]);
  const decoy = m.maxPositionals > 0 && m.decoys.length > 0 ? r.pick(m.decoys) : undefined;
  const shuffled = (extra: string[][]) => {
    const all = [...units, ...extra];
    for (let i = all.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.flat();
  };
  const planned = (defect: string[], what: string, names: string[], last = false): Planned => {
    const suffix = last || r.chance(0.6) ? [] : [r.pick(['--json', '--x', 'tail-word', '--', 'y', '-'])];
    const prefix = shuffled(decoy !== undefined && r.chance(0.6) ? [[decoy]] : []);
    return { family: 'P', what, argv: [command, ...prefix, ...defect, ...suffix], names, expect: 64, command };
  };
  switch (r.int(0, 9)) {
    case 0: {
      const name = nearMiss(r, r.pick(flagNames)!, avoid);
      if (name === undefined) return undefined;
      const form = r.int(0, 2);
      return planned(form === 0 ? [`--${name}`] : form === 1 ? [`--${name}=${someValue(r)}`] : [`--${name}`, r.pick(WORDS)], 'unknown flag, near miss', shown(`--${name}`));
    }
    case 1: {
      const name = r.pick([`fuzz-${r.hex(4)}`, '-x', '=x', 'é', 'a'.repeat(KB100), 'a\nb', '\x1b[31m', 'x\ud800', 'no-json', 'ver sion', '']);
      if (avoid.has(name)) return undefined;
      // `--` alone is the separator: then the next word is one positional too many (or, with room, a decoy).
      if (name === '') return decoy === undefined ? planned(['--', 'fuzz-extra'], 'a positional after `--` where none is allowed', ['fuzz-extra']) : undefined;
      return planned(r.chance(0.7) ? [`--${name}`] : [`--${name}=${someValue(r)}`], 'unknown flag', shown(`--${name}`));
    }
    case 2: {
      const c = r.pick([...'abcdegijkmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'].filter((x) => !shorts.has(x)))!;
      return planned([r.chance(0.3) ? `-${c}${r.pick([...'fjx'])}` : `-${c}`], 'unknown short flag', [`-${c}`]);
    }
    case 3: {
      const f = r.pick(stringFlags)!;
      const short = m.flags[f]!.short;
      const raw = short && r.chance(0.4) ? `-${short}` : `--${f}`;
      return planned([raw], 'value flag last, without its value', [raw], true);
    }
    case 4: {
      const f = r.pick(stringFlags)!;
      const next = r.chance(0.5) ? `--${r.pick(flagNames)!}` : r.pick(['--', '--=x', `--${nearMiss(r, f, avoid) ?? 'zz'}`]);
      return planned([`--${f}`, next], 'value flag followed by a flag', [`--${f}`]);
    }
    case 5: {
      const f = r.pick(stringFlags)!;
      // A minus and a digit is a value (a negative number, `--tz -05:00`): those are judged by the flag's own parser.
      const v = `-${r.pick(['x', 'NaN', '\x1b[2J', '\nnext', 'A'.repeat(KB100), '-', '.5', ' 1'])}`;
      return planned([`--${f}`, v], 'value flag given a value that looks like a flag', [`--${f}`]);
    }
    case 6: {
      const f = r.pick(boolFlags);
      if (f === undefined) return undefined;
      return planned([`--${f}=${r.pick(['', 'true', 'false', '1', 'yes', strange(r)])}`], 'boolean flag given a value', [`--${f}`]);
    }
    case 7:
    case 8: {
      // One positional more than the usage allows, plainly or after `--`, after a first one where one is allowed (for
      // backfill and poll a real pull vendor: neither has credentials here, backfill not even a --tenant).
      const extra = r.pick<() => string>([() => r.pick(WORDS), () => strange(r), () => '--json', () => '-', () => `--${r.pick(flagNames)!}`, () => ''])();
      const first = command === 'backfill' || command === 'poll' ? r.pick(['tencent-ccc', 'tencent-trtc']) : decoy;
      const sep = r.chance(0.4) || (extra.startsWith('-') && extra !== '-') ? ['--'] : [];
      const prefix = shuffled([]);
      const what = `${m.maxPositionals + 1} positionals, ${m.maxPositionals} allowed`;
      return { family: 'P', what, argv: [command, ...prefix, ...(first === undefined ? [] : [first]), ...sep, extra], names: shown(extra), expect: 64, command };
    }
    default: {
      // A flag given twice (or 2,000 times): the last one wins (documented), so the last one carries the defect.
      const f = r.pick(stringFlags)!;
      const times = r.chance(0.15) ? 2000 : 1;
      const given = Array.from({ length: times }, () => flagWith(r, f, r.pick(WORDS))).flat();
      return planned([...given, `--${f}`], `flag given ${times + 1} times, the last without its value`, [`--${f}`], true);
    }
  }
}

/** `--log-level` with no level: checked by cli/main.ts before the command is even loaded, wherever it stands. */
function logLevelCase(r: Rng): Planned {
  const command = r.pick(COMMANDS);
  const argv = [...((r.chance(0.5) ? parseCase(r, command) : semanticCase(r, command))?.argv ?? [command])];
  let v = r.chance(0.7) ? r.pick(['', 'DEBUG', 'trace', 'verbose', 'info ', 'warning', '0', 'debug\n', 'silent']) : strange(r);
  // A level would let the command run: never.
  if ((LOG_LEVELS as readonly string[]).includes(v)) v = 'bogus';
  const form = r.int(0, 2);
  if (form === 2) argv.push('--log-level');
  else argv.splice(r.int(0, argv.length), 0, ...(form === 0 ? ['--log-level', v] : [`--log-level=${v}`]));
  return { family: 'G', what: form === 2 ? '--log-level last, without a level' : 'no such --log-level', argv, names: ['--log-level'], expect: 64, command: undefined };
}

function unknownCommandCase(r: Rng): Planned | undefined {
  const name = r.pick<() => string | undefined>([
    () => nearMiss(r, r.pick(COMMANDS), RESERVED_NAMES),
    () => nearMiss(r, r.pick(COMMANDS), RESERVED_NAMES),
    () => r.pick(['stauts', 'Sql', 'HELP', 'versions', 'import-file', 'simulator', 'migrations', 'infra-up', 'tails']),
    () => r.pick(['', '-', '--', '-x', '-v', '-H', '--bogus', '--help=1', '--version=1', '--Help', '---']),
    () => strange(r),
  ])();
  if (name === undefined || RESERVED_NAMES.has(name)) return undefined;
  const rest = r.chance(0.5) ? [r.pick(['--json', 'x', '--config', 'a b'])] : [];
  // A word with a leading dash is an unknown global option (cli/main.ts says so), anything else an unknown command.
  const fallback = name.startsWith('-') ? 'unknown global option' : 'unknown command';
  return { family: 'U', what: fallback, argv: [name, ...rest], names: shown(name).length > 0 ? shown(name) : [fallback], expect: 64, command: undefined };
}

function helpTopicCase(r: Rng): Planned | undefined {
  const topic = r.chance(0.6) ? nearMiss(r, r.pick(COMMANDS), RESERVED_NAMES) : strange(r);
  if (topic === undefined || RESERVED_NAMES.has(topic)) return undefined;
  return { family: 'H', what: 'help on an unknown command', argv: ['help', topic], names: shown(topic).length > 0 ? shown(topic) : ['unknown command'], expect: 64, command: undefined };
}

/** The invalid cases: every command and the global slots in turn, each a parse-level or a later-check defect. */
function planCases(seed: number, count: number): Case[] {
  const r = new Rng(seededRandom(seed));
  const slots = [...COMMANDS, 'log-level', 'unknown', 'help'] as const;
  const cases: Case[] = [];
  for (let i = 0, guard = 0; cases.length < count && guard < count * 20; guard++) {
    const slot = slots[i % slots.length]!;
    const planned =
      slot === 'log-level' ? logLevelCase(r)
      : slot === 'unknown' ? unknownCommandCase(r)
      : slot === 'help' ? helpTopicCase(r)
      : r.chance(0.5) ? parseCase(r, slot)
      : semanticCase(r, slot);
    if (planned === undefined) continue;
    // The tokens cli/main.ts acts on anywhere (help) never appear in an invalid case.
    if (planned.argv.slice(1).some((a) => a === '--help' || a === '-h')) continue;
    i++;
    cases.push({ id: cases.length + 1, ...planned });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// Running: LANES children at a time, each lane with its own trap and directories.

interface Lane {
  index: number;
  trap: Server;
  port: number;
  connections: number;
  /** First bytes of each connection the trap saw, for the report. */
  seen: string[];
  dirs: { cwd: string; data: string; cache: string; home: string; tmp: string };
}
const lanes: Lane[] = [];

async function openLane(index: number): Promise<Lane> {
  const root = join(dir, `lane-${index}`);
  const dirs = { cwd: join(root, 'cwd'), data: join(root, 'data'), cache: join(root, 'cache'), home: join(root, 'home'), tmp: join(root, 'tmp') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const lane: Lane = { index, trap: createServer(), port: 0, connections: 0, seen: [], dirs };
  lane.trap.on('connection', (socket) => {
    lane.connections++;
    socket.once('data', (d: Buffer) => lane.seen.push(JSON.stringify(d.subarray(0, 80).toString('latin1'))));
    socket.on('error', () => undefined);
    // Whatever it is, it gets nothing: closed at once (the client fails fast instead of waiting).
    setTimeout(() => socket.destroy(), 50);
  });
  await new Promise<void>((resolve) => lane.trap.listen(0, '127.0.0.1', resolve));
  lane.port = (lane.trap.address() as AddressInfo).port;
  return lane;
}

function childEnv(lane: Lane): NodeJS.ProcessEnv {
  const trap = `127.0.0.1:${lane.port}`;
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TZ: 'UTC',
    NO_COLOR: '1',
    HOME: lane.dirs.home,
    TMPDIR: lane.dirs.tmp,
    KAFKA_BROKERS: trap,
    SCHEMA_REGISTRY_URL: `http://${trap}`,
    CLICKHOUSE_URL: `http://${trap}`,
    CLICKHOUSE_DATA_DIR: lane.dirs.data,
    CDRFLOW_CACHE_DIR: lane.dirs.cache,
    CDRFLOW_OPS_PORT: String(lane.port),
    CDRFLOW_PORT_BASE: String(PORT_BASE),
  };
}

interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  trapConnections: number;
  trapSeen: string[];
  touched: string[];
}

function run(lane: Lane, argv: string[]): Promise<Outcome> {
  const before = lane.connections;
  const seenBefore = lane.seen.length;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...argv], { cwd: lane.dirs.cwd, env: childEnv(lane), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      const ms = performance.now() - t0;
      // A connection accepted just before the child ended is counted in the next turn of the loop.
      setImmediate(() => {
        const touched: string[] = [];
        for (const [what, d] of Object.entries(lane.dirs)) {
          const entries = readdirSync(d);
          if (entries.length > 0) {
            touched.push(`${what}: ${entries.slice(0, 5).join(', ')}`);
            rmSync(d, { recursive: true, force: true });
            mkdirSync(d, { recursive: true });
          }
        }
        resolve({
          status,
          signal,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          ms,
          trapConnections: lane.connections - before,
          trapSeen: lane.seen.slice(seenBefore),
          touched,
        });
      });
    });
  });
}

/** Runs `jobs` LANES at a time, each on a lane of its own for its whole run. */
async function inLanes<T>(jobs: T[], each: (lane: Lane, job: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    lanes.map(async (lane) => {
      while (next < jobs.length) await each(lane, jobs[next++]!);
    }),
  );
}

const excerpt = (s: string, n = 300) => escaped(s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

/** What the trap, the directories and stdout say about a run: P3 (or PV for the valid invocations). */
function checkUntouched(p: Prop, label: string, o: Outcome, stdoutMayHave: boolean): void {
  if (o.trapConnections > 0) violate(p, label, `the loopback trap saw ${o.trapConnections} connection(s), first bytes ${o.trapSeen.join(' | ')}`);
  if (o.touched.length > 0) violate(p, label, `files appeared: ${o.touched.join('; ')}`);
  if (!stdoutMayHave && o.stdout !== '') violate(p, label, `stdout not empty (${o.stdout.split('\n').length - 1} lines): ${excerpt(o.stdout, 160)}`);
}

/** The usage text of each command, from `help <command>` (what a usage error reprints after its message). */
const usages = new Map<string, string>();
const tally = new Map<string, number>();
const bump = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
const longStderr: string[] = [];
/** The slowest invalid case, for the summary: [ms, case]. */
let slowest: [number, string] = [0, ''];

function checkInvalid(c: Case, o: Outcome): void {
  const label = caseLabel(c);
  bump(`${c.family} exit ${o.status ?? o.signal}`);
  if (o.ms > slowest[0]) slowest = [o.ms, `#${c.id} ${c.argv[0] === undefined ? '' : arg(c.argv[0])}`];
  // P1
  if (o.status !== c.expect) {
    violate('P1', label, `exit ${o.status ?? `signal ${o.signal}`} (expected ${c.expect}) in ${Math.round(o.ms)} ms; stderr ${excerpt(o.stderr, 400)}`);
  } else if (o.ms > EXIT_WITHIN_MS) {
    violate('P1', label, `exit ${o.status} only after ${Math.round(o.ms)} ms`);
  }
  // P2: the message is what stderr holds besides the usage text a usage error reprints.
  // (Without the valid test's texts, e.g. under -t: everything from "Usage: cdrflow <command>" on.)
  const usage = c.command === undefined ? undefined : usages.get(c.command);
  const message =
    usage !== undefined && o.stderr.includes(`\n\n${usage}`) ? o.stderr.replace(`\n\n${usage}`, '')
    : usage === undefined && c.command !== undefined ? o.stderr.replace(new RegExp(`\n\nUsage: cdrflow ${c.command}[\\s\\S]*$`), '\n')
    : o.stderr;
  const lines = message.split('\n').length - (message.endsWith('\n') ? 1 : 0);
  const bytes = Buffer.byteLength(message);
  if (lines > MAX_MESSAGE_LINES || bytes > MAX_MESSAGE_BYTES) violate('P2', label, `message of ${lines} lines, ${bytes} bytes: ${excerpt(message, 200)}`);
  if (o.stderr.split('\n').length - 1 > MAX_MESSAGE_LINES && !(lines > MAX_MESSAGE_LINES)) longStderr.push(`${c.command}: ${o.stderr.split('\n').length - 1} lines with the usage`);
  if (/^\s+at \S/m.test(o.stderr) || /node:internal|\.[cm]?[jt]s:\d+:\d+\)?$/m.test(o.stderr)) violate('P2', label, `stack trace: ${excerpt(o.stderr, 400)}`);
  const dump = /\b\w*Error(?: \[\w+\])?: /.exec(o.stderr);
  if (dump) violate('P2', label, `error dump "${dump[0]}": ${excerpt(o.stderr.slice(Math.max(0, dump.index - 80)), 200)}`);
  const raw = CONTROL.exec(o.stderr);
  if (raw) violate('P2', label, `raw control character U+${raw[0].charCodeAt(0).toString(16).padStart(4, '0')} in stderr: ${excerpt(o.stderr.slice(Math.max(0, raw.index - 60), raw.index + 20), 120)}`);
  for (const a of c.argv) {
    // A newline or tab of an argument printed as it is (with a few of its characters on the side, so not by chance).
    for (const m of a.matchAll(/[\n\r\t]/g)) {
      const around = a.slice(Math.max(0, m.index - 4), m.index + 1);
      if (around.trim().length >= 2 && o.stderr.includes(around)) {
        violate('P2', label, `an argument's ${JSON.stringify(m[0])} echoed raw: ${excerpt(o.stderr.slice(Math.max(0, o.stderr.indexOf(around) - 60), o.stderr.indexOf(around) + 40), 140)}`);
        break;
      }
    }
  }
  // Named as written, or escaped as quote() (core/input-limits.ts) shows a value with quotes, backslashes or controls.
  const named = (n: string) => [n, quote(n, Infinity).slice(1, -1)].some((form) => message.toLowerCase().includes(form.toLowerCase()));
  if (c.names.length > 0 && !c.names.some(named)) {
    violate('P2', label, `the message names none of ${c.names.map(arg).join(', ')}: ${excerpt(message, 300)}`);
  }
  // P3
  checkUntouched('P3', label, o, false);
}

function assertNoViolations(props: readonly Prop[]): void {
  for (const p of props) {
    const list = violations.get(p) ?? [];
    const shownList = list.slice(0, 30).map((l) => (l.length > 700 ? `${l.slice(0, 700)}…` : l));
    expect.soft(list.length, `${p}: ${list.length} violation(s) (seed ${SEED})\n  ${shownList.join('\n  ')}${list.length > 30 ? `\n  … ${list.length - 30} more` : ''}`).toBe(0);
  }
}

beforeAll(async () => {
  // The compiled copy starts in a third of the time; an edited tree (this file counts) makes it stale.
  if (!distIsFresh(ROOT)) {
    const b = spawnSync(process.execPath, [join(ROOT, 'bin/build-dist.mjs'), '--quiet'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    if (b.status !== 0) throw new Error(`bin/build-dist.mjs failed: ${b.stderr}`);
  }
  for (let i = 0; i < LANES; i++) lanes.push(await openLane(i));
}, 150_000);

afterAll(async () => {
  for (const lane of lanes) await new Promise((resolve) => lane.trap.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('fuzz: the cdrflow command line', () => {
  const t0 = performance.now();
  let total = 0;

  it('valid, harmless: --version, --help, no command, help <command> and <command> --help for every command (exit 0, usage on stdout, nothing touched)', async () => {
    const r = new Rng(seededRandom(SEED + 1));
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    type Valid = { argv: string[]; stdout: RegExp | string; command?: CommandName };
    const jobs: Valid[] = [
      { argv: ['--version'], stdout: `${version}\n` },
      { argv: [r.pick(['-V', 'version'])], stdout: `${version}\n` },
      { argv: [], stdout: /^cdrflow .*\n\nUsage: cdrflow <command>[\s\S]*\nCommands:\n/ },
      { argv: [r.pick(['--help', '-h', 'help'])], stdout: /^cdrflow .*\n\nUsage: cdrflow <command>[\s\S]*\nCommands:\n/ },
      ...COMMANDS.map((c) => ({ argv: ['help', c], stdout: new RegExp(`^Usage: cdrflow ${c}\\b`), command: c })),
      ...COMMANDS.map((c) => ({ argv: [...(r.chance(0.2) ? ['--no-color'] : []), c, r.pick(['--help', '-h'])], stdout: new RegExp(`^Usage: cdrflow ${c}\\b`), command: c })),
    ];
    const outputs = new Map<string, string[]>();
    await inLanes(jobs, async (lane, job) => {
      const o = await run(lane, job.argv);
      total++;
      const label = `valid argv=${argvText(job.argv)}`;
      if (o.status !== 0) violate('PV', label, `exit ${o.status ?? `signal ${o.signal}`}; stderr ${excerpt(o.stderr)}`);
      if (o.ms > EXIT_WITHIN_MS) violate('PV', label, `took ${Math.round(o.ms)} ms`);
      if (typeof job.stdout === 'string' ? o.stdout !== job.stdout : !job.stdout.test(o.stdout)) violate('PV', label, `stdout ${excerpt(o.stdout, 200)}`);
      if (o.stderr !== '') violate('PV', label, `stderr ${excerpt(o.stderr)}`);
      checkUntouched('PV', label, o, true);
      if (job.command) {
        outputs.set(job.command, [...(outputs.get(job.command) ?? []), o.stdout]);
        if (job.argv[0] === 'help') usages.set(job.command, o.stdout.replace(/\n$/, ''));
      }
    });
    for (const [command, texts] of outputs) if (new Set(texts).size > 1) violate('PV', command, '`help <command>` and `<command> --help` print different texts');
    assertNoViolations(['PV']);
  }, 120_000);

  it(`${COUNT} invalid argv (seed ${SEED}): exit 64 or 78 at once, a short escaped message naming the offender, nothing touched`, async () => {
    const planned = planCases(SEED, COUNT);
    const cases = ONLY.size > 0 ? planned.filter((c) => ONLY.has(c.id)) : planned;
    if (LIST) console.log(planned.map((c) => `${caseLabel(c)} -> ${c.expect}`).join('\n'));
    expect(cases.length, 'cases planned').toBeGreaterThan(0);
    // Every command gets cases, of both families.
    if (ONLY.size === 0) for (const command of COMMANDS) expect(cases.some((c) => c.command === command), `a case for ${command}`).toBe(true);
    await inLanes(cases, async (lane, c) => {
      checkInvalid(c, await run(lane, c.argv));
      total++;
    });
    expect(existsSync(join(ROOT, '.data', `infra-${PORT_BASE}`)), 'a local stack state directory for the campaign port base').toBe(false);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    const summary = [...tally].sort().map(([k, n]) => `${k}: ${n}`).join(', ');
    console.log(`cli-flags fuzz (seed ${SEED}): ${total} processes in ${seconds} s, ${LANES} at a time (slowest ${Math.round(slowest[0])} ms, ${slowest[1]}); ${summary}`);
    if (longStderr.length > 0) console.log(`  usage errors whose stderr passes ${MAX_MESSAGE_LINES} lines only because of the reprinted usage: ${[...new Set(longStderr)].join('; ')}`);
    for (const p of PROPS) if ((violations.get(p) ?? []).length > 0) console.log(`  ${p}: ${violations.get(p)!.length} violation(s)`);
    assertNoViolations(['P0', 'P1', 'P2', 'P3']);
  }, INVALID_TIMEOUT_MS);
});
