// How `npm run bench -- <suite>... [--flag value]...` reads its command line: with the parser every `cdrflow`
// command uses (cli/args.ts), against the flags of the suites named. A flag none of them takes, a flag without its
// value or a value out of range ends the run before anything starts, with one line naming the flag (exit 64): a
// typo such as `--mode e2e` must not start ten minutes of the default modes, and `--records 1e99` must not start
// building records until the heap gives out.
import { parseFlags, type FlagSpecs, type FlagValues } from '../cli/args.ts';
import { didYouMean } from '../core/did-you-mean.ts';
import { UsageError } from '../cli/command.ts';

/** What a file in bench/suites/ exports. A suite that takes flags declares them and checks their values. */
export interface Suite {
  flags?: FlagSpecs;
  /** Turns the parsed flags into the suite's options, throwing a UsageError that names a bad one. */
  parseOptions?(values: FlagValues<FlagSpecs>): unknown;
  run(options?: unknown): Promise<Record<string, unknown>>;
}

export interface BenchPlan {
  /** The suites to run, in order, each with its checked options. */
  runs: { name: string; options: unknown }[];
  help: boolean;
}

/**
 * `args` (no `--`): suite names first, then flags. `available` lists every suite; `load` gives a suite's module (only
 * the named ones, or all when none is named, are loaded). Throws a UsageError for an unknown suite, a flag none of
 * the suites to run takes (with a guess when one is close), or a value a suite refuses.
 */
export async function planBench(args: string[], available: string[], load: (name: string) => Promise<Suite>): Promise<BenchPlan> {
  const firstFlag = args.findIndex((a) => a.startsWith('-'));
  const named = firstFlag === -1 ? args : args.slice(0, firstFlag);
  const flagArgs = firstFlag === -1 ? [] : args.slice(firstFlag);
  for (const name of named) {
    if (!available.includes(name)) {
      const guess = didYouMean(name, available);
      throw new UsageError(`unknown suite "${name}"${guess ? ` (did you mean ${guess}?)` : ''}; suites: ${available.join(', ')}`);
    }
  }
  const names = named.length > 0 ? [...new Set(named)] : available;
  const suites = await Promise.all(names.map(async (name) => ({ name, suite: await load(name) })));
  const flags: FlagSpecs = { help: { type: 'boolean', short: 'h' } };
  for (const { suite } of suites) Object.assign(flags, suite.flags);
  const { values } = parseFlags(flagArgs, flags);
  if ((values as Record<string, unknown>)['help'] === true) return { runs: [], help: true };
  const runs = suites.map(({ name, suite }) => {
    const own: FlagValues<FlagSpecs> = {};
    for (const flag of Object.keys(suite.flags ?? {})) if (values[flag] !== undefined) own[flag] = values[flag];
    return { name, options: suite.parseOptions ? suite.parseOptions(own) : undefined };
  });
  return { runs, help: false };
}

/** The usage text: the suites and, for those that take any, their flags. */
export function benchUsage(suites: { name: string; suite: Suite }[]): string {
  const lines = ['usage: npm run bench -- [<suite>...] [--flag value]...   (no suite: all of them)', '', 'suites:'];
  for (const { name, suite } of suites) {
    const flags = Object.entries(suite.flags ?? {}).map(([flag, spec]) => `--${flag}${spec.type === 'string' ? ` <${spec.needs ?? 'value'}>` : ''}`);
    lines.push(`  ${name}${flags.length > 0 ? `\n      ${flags.join('\n      ')}` : ''}`);
  }
  return lines.join('\n');
}
