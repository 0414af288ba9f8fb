// `cdrflow` entry point: finds the subcommand in cli/commands/ and runs it.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from './command.ts';
import { ExitError, UsageError } from './command.ts';

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

async function main(argv: string[]): Promise<number> {
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
