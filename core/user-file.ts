// Files a user names on the command line or in the environment. A config or options file is read whole, so it is
// read at most up to a sane size: `--config /dev/zero` used to read until memory ran out.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** Config and options files: real ones are a few kilobytes. */
export const MAX_SMALL_FILE_BYTES = 1024 * 1024;

const READ_CHUNK_BYTES = 64 * 1024;

/**
 * The whole text of a small file, or an Error whose message says plainly what is wrong ("is a directory", "is more
 * than 1048576 bytes"). A pipe works too (`--config <(envsubst < cdrflow.yml)`), read to its end or the limit. Read as
 * UTF-8, without a leading byte-order mark.
 */
export function readSmallTextFile(path: string, maxBytes: number = MAX_SMALL_FILE_BYTES): string {
  const fd = openSync(path, 'r');
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new Error('is a directory, not a file');
    if (stats.isFile() && stats.size > maxBytes) throw new Error(`is ${stats.size} bytes, more than a file of this kind may be (${maxBytes})`);
    // Read in chunks up to one byte more than allowed, which tells a long stream (a device, a pipe, a file that grew)
    // from one that fits. A buffer of the whole limit at once cost every small file, and every call, 1 MiB.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, maxBytes + 1 - length));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      length += n;
      if (length > maxBytes) throw new Error(`is more than ${maxBytes} bytes, more than a file of this kind may be`);
    }
    // Some editors (Windows Notepad among them) start a UTF-8 file with a byte-order mark: it marks the encoding and is
    // no part of the text, and kept, it made a JSON config "not valid JSON: an unexpected character". TextDecoder drops
    // a leading one, as the import's decoder does (connectors/file-import/import.ts); invalid bytes become U+FFFD.
    return new TextDecoder('utf-8').decode(Buffer.concat(chunks, length));
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
