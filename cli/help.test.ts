// Every command's help against its parser: each flag the parser takes is named in the help (an accepted flag the help
// never names is one a user cannot find), and each flag the help's synopsis and option lines offer is one the parser
// takes. The parser's flags are captured from the command's own parseFlags call (the first thing every command does)
// with an argument no command takes, so nothing runs.
import { readdirSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import type { FlagSpecs } from './args.ts';
import type { Command } from './command.ts';

const captured: FlagSpecs[] = [];
vi.mock('./args.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('./args.ts')>();
  return {
    ...real,
    parseFlags: (args: string[], options: FlagSpecs, settings?: Parameters<typeof real.parseFlags>[2]) => {
      captured.push(options);
      return real.parseFlags(args, options, settings);
    },
  };
});

const COMMANDS_DIR = new URL('./commands/', import.meta.url);
const names = readdirSync(COMMANDS_DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -'.ts'.length));

async function flagsOf(command: Command): Promise<FlagSpecs> {
  captured.length = 0;
  await expect(command.run(['--no-such-flag-anywhere'])).rejects.toThrow(/unexpected argument "--no-such-flag-anywhere"/);
  expect(captured).toHaveLength(1);
  return captured[0]!;
}

/** The flags the help offers: in its synopsis (up to the first blank line) and on its option lines ("  --x ..."). */
function offered(usage: string): Set<string> {
  const synopsis = usage.slice(0, usage.indexOf('\n\n') === -1 ? undefined : usage.indexOf('\n\n'));
  const optionLines = usage.split('\n').filter((l) => /^\s+(--[a-z]|-[a-zA-Z],)/.test(l)).map((l) => l.trim().split(/\s{2,}/)[0]!);
  return new Set([...`${synopsis}\n${optionLines.join('\n')}`.matchAll(/(?<![\w-])(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]!));
}

describe('each command\'s help names exactly the flags its parser takes', () => {
  it.each(names)('%s', async (name) => {
    const { command } = (await import(new URL(`${name}.ts`, COMMANDS_DIR).href)) as { command: Command };
    const specs = await flagsOf(command);
    const taken = Object.entries(specs).flatMap(([flag, spec]) => [`--${flag}`, ...(spec.short ? [`-${spec.short}`] : [])]);
    // Named anywhere in the help, as a whole word.
    const unnamed = taken.filter((flag) => !new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(command.usage));
    expect(unnamed, `${name}: taken by the parser, never named in the help`).toEqual([]);
    const unknown = [...offered(command.usage)].filter((flag) => !taken.includes(flag));
    expect(unknown, `${name}: offered by the help, refused by the parser`).toEqual([]);
  });
});
