// How `cdrflow` writes to its standard output like other command-line tools do: a closed pipe (`cdrflow sql … |
// head -1`) ends the process quietly, and colour is used only when the CLIENT's stdout is a terminal, unless
// --no-color or NO_COLOR (https://no-color.org) says otherwise.

/** A reader that went away (head, grep -m) is not an error: exit 0 at once, without a stack trace. */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
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
