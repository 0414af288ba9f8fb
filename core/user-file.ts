// Files a user names on the command line or in the environment. A config or options file is read whole, so it is
// read at most up to a sane size: `--config /dev/zero` used to read until memory ran out.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** Config and options files: real ones are a few kilobytes. */
export const MAX_SMALL_FILE_BYTES = 1024 * 1024;

/**
 * The whole text of a small file, or an Error whose message says plainly what is wrong ("is a directory", "is more
 * than 1048576 bytes"). A pipe works too (`--config <(envsubst < cdrflow.yml)`), read to its end or the limit.
 */
export function readSmallTextFile(path: string, maxBytes: number = MAX_SMALL_FILE_BYTES): string {
  const fd = openSync(path, 'r');
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new Error('is a directory, not a file');
    if (stats.isFile() && stats.size > maxBytes) throw new Error(`is ${stats.size} bytes, more than a file of this kind may be (${maxBytes})`);
    // One byte more than allowed tells a long stream (a device, a pipe, a file that grew) from one that fits.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      length += n;
      if (n === 0 || length === buffer.length) break;
    }
    if (length > maxBytes) throw new Error(`is more than ${maxBytes} bytes, more than a file of this kind may be`);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/** Whether `path` names a regular file (whose size can be known up front); false for pipes, devices and the like. */
export function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
