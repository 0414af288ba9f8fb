// `cdrflow` entry point: finds the subcommand in cli/commands/ and runs it.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from './command.ts';
import { ExitError, UsageError } from './command.ts';
import { LOG_LEVELS, configureLogging, isLogLevel, levelFromEnv, type LogLevel } from '../core/log.ts';

const COMMANDS_DIR = fileURLToPath(new URL('./commands/', import.meta.url));

function commandFiles(): string[] {
  return readdirSync(COMMANDS_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .sort();
}

async function loadCommand(file: string): Promise<Command> {
  const mod = (await import(pathToFileURL(COMMANDS_DIR + file).href)) as { command: Command };
  return mod.command;
}

async function printHelp(): Promise<void> {
  const commands = await Promise.all(commandFiles().map(loadCommand));
  const width = Math.max(...commands.map((c) => c.name.length));
  console.log('cdrflow — streaming ETL for telephony call detail records\n');
  console.log('Usage: cdrflow <command> [options]   (cdrflow <command> --help for details)\n');
  console.log('Commands:');
  for (const c of commands) console.log(`  ${c.name.padEnd(width)}  ${c.summary}`);
}

/** Takes the global `--log-level <level>` (or `=level`) out of the arguments; LOG_LEVEL when absent. */
function takeLogLevel(argv: string[]): { level: LogLevel; rest: string[] } {
  const rest: string[] = [];
  let given: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--log-level') given = argv[++i] ?? '';
    else if (a.startsWith('--log-level=')) given = a.slice('--log-level='.length);
    else rest.push(a);
  }
  if (given === undefined) return { level: levelFromEnv(), rest };
  if (!isLogLevel(given)) throw new UsageError(`--log-level needs one of ${LOG_LEVELS.join(', ')}, got "${given}"`);
  return { level: given, rest };
}

async function main(argv: string[]): Promise<number> {
  let level: LogLevel;
  try {
    ({ level, rest: argv } = takeLogLevel(argv));
  } catch (err) {
    console.error(`cdrflow: ${(err as Error).message}`);
    return 64;
  }
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await printHelp();
    return 0;
  }
  const file = commandFiles().find((f) => f === `${name}.ts`);
  if (!file) {
    console.error(`cdrflow: unknown command "${name}"\n`);
    await printHelp();
    return 64;
  }
  const command = await loadCommand(file);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  configureLogging({ level, to: command.logTarget?.(args) ?? 'stderr' });
  try {
    return await command.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`cdrflow ${name}: ${err.message}\n\n${command.usage}`);
      return 64;
    }
    console.error(`cdrflow ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return err instanceof ExitError ? err.code : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
