// `cdrflow` entry point: finds the subcommand in cli/commands/ and runs it.
import { readdirSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Command } from './command.ts';
import { ExitError, commandFailure, runCommand } from './command.ts';
import { didYouMean } from '../core/did-you-mean.ts';
import { exitQuietlyOnClosedPipe, setColorChoice, takeColorFlags } from './output.ts';
import { LOG_LEVELS, configureLogging, type LogFormat, type LogLevel } from '../core/log.ts';
import { takeLoggingOptions } from './logging-options.ts';
import { quote, terminalLines } from '../core/input-limits.ts';
import { EXIT_USAGE } from '../core/exit-codes.ts';

// import.meta.filename, not import.meta.url: the compiled copy (dist/, bin/build-dist.mjs) rewrites import.meta.url
// to the source file's URL, and here the commands must be loaded from wherever this file really is (.ts or .js).
const HERE = pathToFileURL(import.meta.filename);
const COMMANDS_DIR = new URL('./commands/', HERE);
const EXT = import.meta.filename.endsWith('.js') ? '.js' : '.ts';

function commandNames(): string[] {
  return readdirSync(COMMANDS_DIR)
    .filter((f) => f.endsWith(EXT) && !f.endsWith(`.test${EXT}`))
    .map((f) => f.slice(0, -EXT.length))
    .sort();
}

async function loadCommand(name: string): Promise<Command> {
  const mod = (await import(new URL(`${name}${EXT}`, COMMANDS_DIR).href)) as { command: Command };
  return mod.command;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type CommandText = Pick<Command, 'name' | 'summary' | 'usage'>;

/** Every command's name, summary and usage: from the compiled copy's list, else by loading each command. */
async function commandTexts(): Promise<CommandText[]> {
  if (EXT === '.js') {
    try {
      return JSON.parse(readFileSync(new URL('../commands.json', HERE), 'utf8')) as CommandText[];
    } catch {
      /* not written (an older build): load them */
    }
  }
  return Promise.all(commandNames().map(loadCommand));
}

async function usageOf(name: string): Promise<string> {
  return (await commandTexts()).find((c) => c.name === name)?.usage ?? '';
}

async function printHelp(): Promise<void> {
  const commands = await commandTexts();
  const width = Math.max(...commands.map((c) => c.name.length));
  console.log(`cdrflow ${version()} — streaming ETL for telephony call detail records\n`);
  console.log('Usage: cdrflow <command> [options]   (cdrflow help <command> or cdrflow <command> --help for details)\n');
  console.log('Commands:');
  for (const c of commands) console.log(`  ${c.name.padEnd(width)}  ${c.summary}`);
  console.log(`\nGlobal options: --help, --version, --log-level ${LOG_LEVELS.join('|')}, --no-color (colour only on a terminal; NO_COLOR=1 too), --color (colour even when not a terminal)`);
}

/** The options taken before any command (takeLoggingOptions, takeColorFlags), as the help lists them. */
const GLOBAL_OPTIONS = ['help', 'version', 'log-level', 'no-color', 'color'];

/** "unknown command", with the closest name when one is close (the list stays on `cdrflow --help`: stdout is for output). */
async function unknownCommand(name: string): Promise<number> {
  // `cdrflow --bogus status` said "unknown command --bogus": an option before the command is a global one or nothing.
  if (name.startsWith('-')) {
    const near = name.startsWith('--') ? didYouMean(name.slice(2).split('=')[0]!, GLOBAL_OPTIONS) : undefined;
    console.error(`cdrflow: unknown global option ${quote(name)}${near ? ` (did you mean --${near}?)` : ''}; the global options are ${GLOBAL_OPTIONS.map((o) => `--${o}`).join(', ')}, and a command's own options follow its name\nRun \`cdrflow --help\` for the list.`);
    return EXIT_USAGE;
  }
  const guess = didYouMean(name, commandNames());
  if (guess) {
    console.error(`cdrflow: unknown command ${quote(name)} (did you mean "${guess}"?)\nRun \`cdrflow --help\` for the list.`);
    return EXIT_USAGE;
  }
  console.error(`cdrflow: unknown command ${quote(name)}\nRun \`cdrflow --help\` for the list.`);
  return EXIT_USAGE;
}

async function main(argv: string[]): Promise<number> {
  let level: LogLevel;
  let stderrFormat: LogFormat;
  try {
    ({ level, stderrFormat, rest: argv } = takeLoggingOptions(argv));
  } catch (err) {
    console.error(`cdrflow: ${terminalLines((err as Error).message)}`);
    return err instanceof ExitError ? err.code : EXIT_USAGE;
  }
  const { args: rest, color } = takeColorFlags(argv);
  setColorChoice(color);
  const [name, ...args] = rest;
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(version());
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h') {
    await printHelp();
    return 0;
  }
  if (name === 'help') {
    const topic = args[0];
    if (topic === undefined) {
      await printHelp();
      return 0;
    }
    if (!commandNames().includes(topic)) return unknownCommand(topic);
    console.log(await usageOf(topic));
    return 0;
  }
  if (!commandNames().includes(name)) return unknownCommand(name);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(await usageOf(name));
    return 0;
  }
  const command = await loadCommand(name);
  configureLogging({ level, to: command.logTarget?.(args) ?? 'stderr', stderrFormat });
  try {
    return await runCommand(command, args);
  } catch (err) {
    const { text, code } = commandFailure(name, err, command.usage);
    console.error(text);
    return code;
  }
}

exitQuietlyOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
