// The one reader of JSON-lines input (`cdrflow import` files, `cdrflow normalize` stdin): lines as raw bytes, so the
// caller decodes UTF-8 strictly (a lenient decoder such as readline's turns invalid bytes into U+FFFD without a word),
// and at most `maxBytes` of any line held in memory: a longer line is skipped as it streams past and reported by its
// length, so a file with a 2 GB line (or none at all) cannot exhaust the process.
import { MAX_LINE_BYTES } from './input-limits.ts';

/** A line longer than the limit: never held, only measured. */
export interface OverlongLine {
  overLimit: true;
  /** Its full length in bytes (without the line end). */
  bytes: number;
}

/** For tests: raised to the most bytes of a line held at once, between chunks (what a long line could make it take). */
export interface HeldPeak {
  peak: number;
}

/**
 * Lines split at `\n` (a `\r` right before it is dropped: CRLF files read the same); the last line is yielded even
 * without a newline, but not when it is empty. Each yielded Buffer may share memory with the input chunk.
 */
export async function* byteLines(input: AsyncIterable<Buffer | string>, maxBytes: number, held?: HeldPeak): AsyncGenerator<Buffer | OverlongLine> {
  // The current line's pieces from earlier chunks (empty while it is over the limit), and its length so far.
  let parts: Buffer[] = [];
  let length = 0;
  const finish = (last: Buffer): Buffer | OverlongLine => {
    const total = length + last.length;
    let line: Buffer;
    if (total > maxBytes + 1) line = Buffer.alloc(0); // over even with a trailing \r: not assembled
    else line = parts.length === 0 ? last : Buffer.concat([...parts, last], total);
    parts = [];
    length = 0;
    const crlf = total > 0 && (line.length > 0 ? line[line.length - 1] === 0x0d : lastByteWasCr);
    const bytes = crlf ? total - 1 : total;
    if (bytes > maxBytes) return { overLimit: true, bytes };
    return crlf ? line.subarray(0, line.length - 1) : line;
  };
  // Whether the most recent byte of the current (over-limit, unassembled) line was \r.
  let lastByteWasCr = false;
  for await (const data of input) {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (piece.length > 0) lastByteWasCr = piece[piece.length - 1] === 0x0d;
      yield finish(piece);
      lastByteWasCr = false;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) continue;
    lastByteWasCr = rest[rest.length - 1] === 0x0d;
    if (length + rest.length > maxBytes + 1) parts = []; // over the limit: stop holding it, keep counting
    else parts.push(Buffer.from(rest)); // a copy: the chunk may be reused by the stream
    length += rest.length;
    if (held) held.peak = Math.max(held.peak, parts.reduce((n, part) => n + part.length, 0));
  }
  if (length > 0) yield finish(Buffer.alloc(0));
}

/** The report of an overlong line, the same wherever lines are read. */
export function overlongReason(line: OverlongLine): string {
  return `line is ${line.bytes} bytes long (limit ${MAX_LINE_BYTES}); skipped unread`;
}
