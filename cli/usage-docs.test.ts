// What a user reads about each command against what the command takes and how it ends: README.md's "## Commands"
// table (its rows and the shared exit codes above it) and each command's help. cli/help.test.ts holds the help against
// the parser; this holds README's rows against the parser, the exit codes each command's code can end with against
// its help and row, the shared exit codes against core/exit-codes.ts, and every concrete invocation shown in a help
// text or a row (`cdrflow tail cdr.dlq --format json`) against the command's parser. Parsers are captured as in
// help.test.ts, from the command's own parseFlags call with a flag no command takes, so nothing runs.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import type { FlagSpecs, ParseOptions } from './args.ts';
import type { Command } from './command.ts';
import * as exitCodes from '../core/exit-codes.ts';
import { EXIT_NO_VERDICT } from '../reconcile/model.ts';

const captured: { options: FlagSpecs; settings: ParseOptions | undefined }[] = [];
vi.mock('./args.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('./args.ts')>();
  return {
    ...real,
    parseFlags: (args: string[], options: FlagSpecs, settings?: ParseOptions) => {
      captured.push({ options, settings });
      return real.parseFlags(args, options, settings);
    },
  };
});
const { parseFlags } = await vi.importActual<typeof import('./args.ts')>('./args.ts');

const COMMANDS_DIR = new URL('./commands/', import.meta.url);
const names = readdirSync(COMMANDS_DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();

interface Loaded {
  command: Command;
  source: string;
  options: FlagSpecs;
  settings: ParseOptions | undefined;
  /** Every flag the parser takes, as written: --long and -s. */
  flags: string[];
}

async function load(name: string): Promise<Loaded> {
  const url = new URL(`${name}.ts`, COMMANDS_DIR);
  const { command } = (await import(url.href)) as { command: Command };
  captured.length = 0;
  await expect(command.run(['--no-such-flag-anywhere'])).rejects.toThrow(/unexpected argument "--no-such-flag-anywhere"/);
  expect(captured).toHaveLength(1);
  const { options, settings } = captured[0]!;
  const flags = Object.entries(options).flatMap(([flag, spec]) => [`--${flag}`, ...(spec.short ? [`-${spec.short}`] : [])]);
  return { command, source: readFileSync(url, 'utf8'), options, settings, flags };
}

const loaded = new Map<string, Loaded>();
for (const name of names) loaded.set(name, await load(name));

/** cli/main.ts takes these before the command's own parser sees its arguments. */
const GLOBAL_FLAGS = ['--help', '--version', '--log-level', '--color', '--no-color'];

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const commandsSection = README.slice(README.indexOf('\n## Commands\n'), README.indexOf('\n## ', README.indexOf('\n## Commands\n') + 1));
const intro = commandsSection.slice(0, commandsSection.indexOf('\n| command |'));

interface Row {
  text: string;
  /** The commands the row documents: the first word of each code span in its first cell. */
  commands: string[];
}

const rows: Row[] = commandsSection
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .map((text) => {
    const firstCell = text.split(/(?<!\\)\|/)[1]!;
    const commands = [...firstCell.matchAll(/`([a-z-]+)/g)].map((m) => m[1]!).filter((w) => names.includes(w));
    return { text, commands };
  });

const rowOf = (name: string): Row | undefined => rows.find((r) => r.commands.includes(name));
const spans = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
const longFlags = (text: string): string[] => [...text.matchAll(/(?<![\w-])(--[a-z][\w-]*)/g)].map((m) => m[1]!);
const named = (flag: string, text: string): boolean => new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(text);

describe('README\'s Commands table against each command\'s parser', () => {
  it('has a row for every command', () => {
    expect(names.filter((n) => !rowOf(n))).toEqual([]);
  });

  // `--config FILE` is taken by nearly every command: the intro says so once, naming the exceptions, rather than
  // each row.
  it('says once which commands take --config', () => {
    const said = /Every\s+command but (.*?) takes `--config FILE`/s.exec(intro);
    expect(said, 'README\'s intro: "Every command but `x` and `y` takes `--config FILE`"').not.toBeNull();
    const without = names.filter((n) => !loaded.get(n)!.flags.includes('--config'));
    expect(spans(said![1]!).sort()).toEqual(without);
  });

  it.each(names)('%s: every flag its parser takes is named in its row', (name) => {
    const { flags } = loaded.get(name)!;
    const row = rowOf(name)!;
    const missing = flags.filter((f) => f.startsWith('--') && f !== '--config' && !named(f, row.text));
    expect(missing, `${name}: taken by the parser, not in README's row`).toEqual([]);
  });

  it.each(rows.map((r) => [r.commands.join(', '), r] as const))('row %s: every flag it names is taken by the parser', (_, row) => {
    const refused: string[] = [];
    // A span that starts with a command's name (`poll --once` in backfill's row) is that command's; any other flag is
    // one of the row's commands'.
    const owned = new Set<string>();
    for (const span of spans(row.text)) {
      const first = span.split(' ')[0]!;
      if (!names.includes(first)) continue;
      for (const flag of longFlags(span)) {
        owned.add(`${span}\u0000${flag}`);
        if (!loaded.get(first)!.flags.includes(flag) && !GLOBAL_FLAGS.includes(flag)) refused.push(`${first} ${flag}`);
      }
    }
    const rest = spans(row.text).filter((s) => !names.includes(s.split(' ')[0]!)).join('\n') + row.text.replace(/`[^`]*`/g, '');
    for (const flag of longFlags(rest)) {
      if (GLOBAL_FLAGS.includes(flag)) continue;
      if (!row.commands.some((c) => loaded.get(c)!.flags.includes(flag))) refused.push(`${row.commands.join('/')} ${flag}`);
    }
    expect(refused, 'named in README, refused by the parser').toEqual([]);
  });
});

/**
 * The exit codes a command's code can end with, read from its source: the core/exit-codes.ts constants it uses, and
 * the shared helpers that end with one (cli/kafka-access.ts, cli/pull-connector.ts, cli/command.ts, signalExit).
 */
function exitCodesOf(source: string): Set<number> {
  const codes = new Set<number>();
  const constants: Record<string, number> = { EXIT_NO_VERDICT };
  for (const [key, value] of Object.entries(exitCodes)) if (typeof value === 'number') constants[key] = value;
  for (const [constant, code] of Object.entries(constants)) if (named(constant, source)) codes.add(code);
  const helpers: [RegExp, number[]][] = [
    [/\b(oneShotKafka|checkKafkaReachable|rethrowUnreachable|kafkaUnavailableExit|rethrowOneShotFailure)\(/, [exitCodes.EXIT_UNAVAILABLE]],
    [/\b(refuseDirectoryOnStdin|readingStdin)\(/, [exitCodes.EXIT_NO_INPUT]],
    [/\bsignalExit\(/, [130, 143]],
  ];
  for (const [pattern, ends] of helpers) if (pattern.test(source)) ends.forEach((c) => codes.add(c));
  return codes;
}

/** Shared by every command and explained once, in README's intro: usage, a full disk, configuration. */
const SHARED_BY_ALL = new Set([0, 1, exitCodes.EXIT_USAGE, exitCodes.EXIT_IO_ERROR, exitCodes.EXIT_CONFIG]);

describe('exit codes', () => {
  it.each(names)('%s: each exit code its code can end with is in its help or README row', (name) => {
    const { command, source } = loaded.get(name)!;
    const documented = `${command.usage}\n${rowOf(name)!.text}`;
    const missing = [...exitCodesOf(source)].filter((c) => !SHARED_BY_ALL.has(c) && !new RegExp(`(?<![\\d.])${c}(?!\\d|\\.\\d)`).test(documented));
    expect(missing, `${name}: exit codes neither its help nor README's row names`).toEqual([]);
  });

  it('README\'s shared exit codes are those of core/exit-codes.ts, with the same meaning', () => {
    const shared = Object.entries(exitCodes).filter(([, v]) => typeof v === 'number' && v >= 64) as [string, number][];
    const said = new Set([...intro.matchAll(/(?<![\d.])(6\d|7\d)(?!\d|\.\d)/g)].map((m) => Number(m[1])));
    expect([...said].sort()).toEqual(shared.map(([, v]) => v).sort());
    const meanings: Record<string, RegExp> = {
      EXIT_USAGE: /64 a usage error/,
      EXIT_DATA_ERROR: /65 an input file not in the expected format/,
      EXIT_NO_INPUT: /66 an input file missing, a\s+directory or unreadable/,
      EXIT_UNAVAILABLE: /69 a service not reachable/,
      EXIT_IO_ERROR: /74 output that could not be written/,
      EXIT_NOT_SETTLED: /75 try again later/,
      EXIT_CONFIG: /78 an invalid configuration/,
    };
    expect(Object.keys(meanings).sort()).toEqual(shared.map(([k]) => k).sort());
    for (const pattern of Object.values(meanings)) expect(intro).toMatch(pattern);
    expect(intro).toMatch(/130 \/ 143 stopped\s+by SIGINT \/ SIGTERM/);
    expect(intro).toMatch(/0\s+success, 1 any other\s+error/);
  });
});

/** Concrete invocations: a code span (README) or a `cdrflow <name> …` line or span (help) with no placeholder in it. */
function examples(text: string, inHelp: boolean): { name: string; args: string[]; shown: string }[] {
  const candidates = inHelp
    ? [...spans(text), ...text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('cdrflow '))]
    : spans(text);
  const found: { name: string; args: string[]; shown: string }[] = [];
  for (const candidate of candidates) {
    const shown = candidate.replace(/^.*\|\s*(?=cdrflow )/, '');
    const words = shown.replace(/^cdrflow /, '').trim();
    if (inHelp && !shown.startsWith('cdrflow ')) continue;
    // A synopsis, not an example: placeholders, alternatives, options in brackets, an ellipsis.
    if (/[<>[\]|…]|\.\.\./.test(words)) continue;
    const name = words.split(' ')[0]!;
    if (!names.includes(name)) continue;
    // Shell words: "double-quoted" or bare.
    const args = [...words.slice(name.length).matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
    found.push({ name, args, shown });
  }
  return found;
}

const shownExamples = [
  ...names.flatMap((n) => examples(loaded.get(n)!.command.usage, true).map((e) => ({ ...e, where: `${n}'s help` }))),
  ...rows.flatMap((r) => examples(r.text, false).map((e) => ({ ...e, where: `README row ${r.commands.join(', ')}` }))),
];

describe('every invocation shown parses', () => {
  it('finds some', () => {
    expect(shownExamples.length).toBeGreaterThan(5);
  });

  it.each(shownExamples.map((e) => [`${e.where}: ${e.shown}`, e] as const))('%s', (_, { name, args }) => {
    const { options, settings } = loaded.get(name)!;
    const own = args.filter((a) => !GLOBAL_FLAGS.includes(a.split('=')[0]!));
    expect(() => parseFlags(own, options, settings)).not.toThrow();
  });
});
