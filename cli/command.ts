// The contract every `cdrflow <name>` subcommand implements. Each lives in cli/commands/<name>.ts and exports
// `command`; cli/main.ts discovers them, so adding a command never touches a shared file.
import { fstatSync } from 'node:fs';
import type { LogTarget } from '../core/log.ts';
import { EXIT_NO_INPUT, EXIT_USAGE } from '../core/exit-codes.ts';
import { terminalLines } from '../core/input-limits.ts';

export interface Command {
  name: string;
  /** One line for `cdrflow --help`. */
  summary: string;
  /** Full usage text for `cdrflow <name> --help`. */
  usage: string;
  /**
   * Where the command's JSON log goes (core/log.ts). Default stderr, so a command's stdout stays its result;
   * the long-running services (start, run, poll, receive) log to stdout, as services do.
   */
  logTarget?: (args: string[]) => LogTarget;
  /** Returns the process exit code. Throwing prints the message and exits 1 (an ExitError: its code, a UsageError: 64). */
  run(args: string[]): Promise<number>;
}

/** Usage errors exit 64 (EX_USAGE) with the message and the usage text. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Standard input that is a directory (`< /tmp`) reads as nothing, so a command that reads stdin printed nothing and
 * exited 0: refused as no input (exit 66), with what to give instead.
 */
export function refuseDirectoryOnStdin(instead: string): void {
  if (fstatSync(0).isDirectory()) throw new ExitError(EXIT_NO_INPUT, `standard input is a directory; ${instead}`);
}

/**
 * Reads standard input with `read`; a read that fails (stdin opened for writing only, `0> file`: EBADF; a device
 * error: EIO) is unreadable input, exit 66 with the error's code, as an unreadable --file is (it was the raw error
 * text, exit 1).
 */
export async function readingStdin<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    const { code, syscall } = err as NodeJS.ErrnoException;
    if (syscall !== 'read' || code === undefined) throw err;
    throw new ExitError(EXIT_NO_INPUT, `standard input cannot be read (${code})`);
  }
}

/** Ends the command with `code`; the message is printed like any error ("cdrflow <name>: <message>"). */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const endings: (() => void)[] = [];

/**
 * Has `end` done once the running command is over (runCommand): for what a command's helpers own on its behalf. The
 * endings are the process's, as a process runs one command (cli/main.ts); a test that runs a command runs it through
 * runCommand too, or its endings would wait for the next command the test file runs.
 */
export function atCommandEnd(end: () => void): void {
  endings.push(end);
}

/**
 * Runs `command` (cli/main.ts), then what was left to atCommandEnd, whether it returned or threw. Every ending runs,
 * whatever one before it did; an ending's failure surfaces only when the command itself succeeded, so it never hides
 * the command's own error.
 */
export async function runCommand(command: Command, args: string[]): Promise<number> {
  let outcome: { code: number } | { error: unknown };
  try {
    outcome = { code: await command.run(args) };
  } catch (error) {
    outcome = { error };
  }
  let endingFailure: { error: unknown } | undefined;
  for (const end of endings.splice(0)) {
    try {
      end();
    } catch (error) {
      endingFailure ??= { error };
    }
  }
  if ('error' in outcome) throw outcome.error;
  if (endingFailure) throw endingFailure.error;
  return outcome.code;
}

/**
 * What `cdrflow <name>` prints for what the command threw, and its exit code (cli/main.ts): a UsageError with the
 * usage under it (exit 64), an ExitError with its code, anything else exit 1. The message is the last boundary before
 * the terminal: it may quote a server's error text, a record or a flag value, so its control and invisible characters
 * are shown as escapes (terminalLines: its line breaks kept; escaping twice changes nothing, so a message already
 * escaped where it was made stays as it was). No message carries colour: only a command's output does.
 */
export function commandFailure(name: string, err: unknown, usage: string): { text: string; code: number } {
  const message = terminalLines(err instanceof Error ? err.message : String(err));
  if (err instanceof UsageError) return { text: `cdrflow ${name}: ${message}\n\n${usage}`, code: EXIT_USAGE };
  return { text: `cdrflow ${name}: ${message}`, code: err instanceof ExitError ? err.code : 1 };
}
