// How `cdrflow` writes to its standard output like other command-line tools do: a closed pipe (`cdrflow sql … |
// head -1`) ends the process quietly, and colour is used only when the CLIENT's stdout is a terminal, unless
// --no-color or NO_COLOR (https://no-color.org) says otherwise.
import { fstatSync } from 'node:fs';
import { EXIT_IO_ERROR } from '../core/exit-codes.ts';
import { exitProcess } from '../core/engine-exit.ts';

/** Whether stdout and stderr are the same file or pipe (`2>&1`). */
function sameOutput(): boolean {
  try {
    const [out, err] = [fstatSync(1), fstatSync(2)];
    return out.dev === err.dev && out.ino === err.ino;
  } catch {
    return false;
  }
}

/**
 * A reader that went away (head, grep -m) is not an error: exit 0 at once, without a stack trace. Any other failure
 * to write — a full disk (`> /dev/full`: ENOSPC) — is one line on stderr and exit 74, not a stack trace. So is a
 * closed stderr while stdout goes elsewhere (`2> >(head -1) > out.jsonl`): the command cannot go on reporting, and
 * exit 0 said a cut-short output was whole. Through exitProcess: the reader can go away while the embedded engine
 * runs the statement whose rows are printed (`cdrflow sql … | head -1`).
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const [stream, name] of [[process.stdout, 'standard output'], [process.stderr, 'standard error']] as const) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' && (stream === process.stdout || sameOutput())) return exitProcess(0);
      if (stream !== process.stderr) {
        try {
          process.stderr.write(`cdrflow: cannot write to ${name}: ${err.code ?? err.message}\n`);
        } catch {
          // stderr is gone too: the exit code says it.
        }
      }
      exitProcess(EXIT_IO_ERROR);
    });
  }
}

/**
 * Takes the global colour flags out of `args` (they are accepted by every command): `--no-color` turns colour
 * off, `--color` forces it on. Only flags before a `--` count.
 */
export function takeColorFlags(args: string[]): { args: string[]; color: 'auto' | 'always' | 'never' } {
  let color: 'auto' | 'always' | 'never' = 'auto';
  const end = args.indexOf('--');
  const rest: string[] = [];
  for (const [i, a] of args.entries()) {
    if (end === -1 || i < end) {
      if (a === '--no-color') {
        color = 'never';
        continue;
      }
      if (a === '--color') {
        color = 'always';
        continue;
      }
    }
    rest.push(a);
  }
  return { args: rest, color };
}

let choice: 'auto' | 'always' | 'never' = 'auto';

export function setColorChoice(c: 'auto' | 'always' | 'never'): void {
  choice = c;
}

/** Whether to colour what goes to `stream`: a terminal, and neither --no-color nor a non-empty NO_COLOR. */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  if (choice !== 'auto') return choice === 'always';
  if (process.env['NO_COLOR']) return false;
  return Boolean(stream.isTTY);
}
