// The contract every `cdrflow <name>` subcommand implements. Each lives in cli/commands/<name>.ts and exports
// `command`; cli/main.ts discovers them, so adding a command never touches a shared file.
import { fstatSync } from 'node:fs';
import type { LogTarget } from '../core/log.ts';
import { EXIT_NO_INPUT } from '../core/exit-codes.ts';

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
