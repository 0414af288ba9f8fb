// readSmallTextFile: the one way a config or options file is read whole, bounded whatever the path names.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRegularFile, readSmallTextFile } from './user-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-user-file-'));

describe('readSmallTextFile', () => {
  it('reads a file up to the limit, and refuses one a byte over by its size, unread', () => {
    writeFileSync(join(dir, 'at.yml'), 'é'.repeat(50));
    expect(readSmallTextFile(join(dir, 'at.yml'), 100)).toBe('é'.repeat(50));
    writeFileSync(join(dir, 'over.yml'), 'x'.repeat(101));
    expect(() => readSmallTextFile(join(dir, 'over.yml'), 100)).toThrow('is 101 bytes, more than a file of this kind may be (100)');
  });

  it('refuses a directory, and a device that never ends at the limit (/dev/zero)', () => {
    expect(() => readSmallTextFile(dir)).toThrow('is a directory, not a file');
    expect(() => readSmallTextFile('/dev/zero', 4096)).toThrow('is more than 4096 bytes');
    expect(readSmallTextFile('/dev/null')).toBe('');
    expect(isRegularFile('/dev/null')).toBe(false);
    expect(isRegularFile(join(dir, 'at.yml'))).toBe(true);
  });

  it('drops a leading UTF-8 byte-order mark, which marks the encoding and is no part of the text', () => {
    writeFileSync(join(dir, 'bom.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a": "\ufeff"}')]));
    expect(readSmallTextFile(join(dir, 'bom.json'))).toBe('{"a": "\ufeff"}');
  });

  it('reads a file of many chunks whole, a character split between chunks included', () => {
    const text = `x${'é'.repeat(150_000)}`; // 300,001 bytes: the chunks end inside a two-byte character
    writeFileSync(join(dir, 'big.yml'), text);
    expect(readSmallTextFile(join(dir, 'big.yml'))).toBe(text);
  });

  it.each([
    [200_000, 'reads'],
    [200_001, 'refuses'],
  ] as const)('a pipe of %s bytes at a limit of 200,000: %s it', async (bytes, verdict) => {
    const fifo = join(dir, `fifo-${bytes}`);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', `head -c ${bytes} /dev/zero | tr '\\0' a > '${fifo}'`]);
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    if (verdict === 'reads') expect(readSmallTextFile(fifo, 200_000)).toBe('a'.repeat(bytes));
    else expect(() => readSmallTextFile(fifo, 200_000)).toThrow('is more than 200000 bytes');
    writer.kill();
    await exited;
  });

  it('reads a pipe to its end (--config <(envsubst < cdrflow.yml))', async () => {
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', `printf 'kafka:\\n  brokers: [a]\\n' > '${fifo}'`]);
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    expect(readSmallTextFile(fifo)).toBe('kafka:\n  brokers: [a]\n');
    expect(await exited).toBe(0);
  });
});
