// byteLines against the obvious reference (split the whole input at once), over seeded random inputs cut into random
// chunks, plus the promise that matters for hostile files: a line over the limit is never held in memory.
import { describe, expect, it } from 'vitest';
import { byteLines, type OverlongLine } from './byte-lines.ts';

function reference(input: Buffer, maxBytes: number): (string | OverlongLine)[] {
  const lines = input.toString('latin1').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).map((l) => (l.length > maxBytes ? { overLimit: true, bytes: l.length } : l));
}

async function collect(chunks: Buffer[], maxBytes: number): Promise<(string | OverlongLine)[]> {
  const out: (string | OverlongLine)[] = [];
  async function* source() {
    for (const c of chunks) yield c;
  }
  for await (const line of byteLines(source(), maxBytes)) out.push(Buffer.isBuffer(line) ? line.toString('latin1') : line);
  return out;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('byteLines', () => {
  it('matches splitting the whole input at once, for 3,000 random inputs in random chunks', async () => {
    const random = prng(20261204);
    const alphabet = ['a', 'b', '\n', '\r', '\r\n', '\n\n', 'é', '{"k":1}'];
    for (let round = 0; round < 3000; round++) {
      let text = '';
      const parts = Math.floor(random() * 40);
      for (let i = 0; i < parts; i++) text += random() < 0.1 ? 'x'.repeat(Math.floor(random() * 30)) : alphabet[Math.floor(random() * alphabet.length)];
      const input = Buffer.from(text, 'latin1');
      const maxBytes = Math.floor(random() * 12);
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(random() * 8);
        chunks.push(input.subarray(at, at + size));
        at += size;
      }
      expect(await collect(chunks, maxBytes), `${JSON.stringify(text)} max ${maxBytes}`).toEqual(reference(input, maxBytes));
    }
  });

  it('measures a 64 MiB line without holding it: no more of it than the limit is held at once', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    async function* hostile() {
      yield Buffer.from('{"first":1}\n');
      for (let i = 0; i < 1024; i++) yield chunk;
      yield Buffer.from('\r\n{"last":1}');
    }
    const held = { peak: 0 };
    const out: (string | OverlongLine)[] = [];
    for await (const line of byteLines(hostile(), 1024 * 1024, held)) out.push(Buffer.isBuffer(line) ? line.toString() : line);
    expect(out).toEqual(['{"first":1}', { overLimit: true, bytes: 64 * 1024 * 1024 }, '{"last":1}']);
    // Held at most: the line up to the limit (1 MiB, and a \r that may end it); the line itself is 64 MiB.
    expect(held.peak, 'bytes of the line held at once').toBeGreaterThan(0);
    expect(held.peak, 'bytes of the line held at once').toBeLessThanOrEqual(1024 * 1024 + 1);
  });

  it('takes strings as UTF-8 and yields nothing for empty input', async () => {
    async function* text() {
      yield 'é\n';
      yield '';
    }
    const lines: Buffer[] = [];
    for await (const line of byteLines(text(), 10)) lines.push(line as Buffer);
    expect(lines).toEqual([Buffer.from('é')]);
    expect(await collect([], 10)).toEqual([]);
  });
});
