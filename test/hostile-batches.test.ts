// The bomb helper on its own, imported first as a test file may import it: it loads kafkajs after cdrflow's changes
// to it (core/kafkajs-setup.ts), and its batches are what it says.
import { zstdBombRecords } from './hostile-batches.ts';
import { describe, expect, it } from 'vitest';
import { MAX_DECOMPRESSED_BATCH_BYTES, zstdDecompress } from '../core/compression/index.ts';

describe('zstdBombRecords', () => {
  it('is one record of that many zero bytes, a few bytes per 128 KiB; past the limit it is refused', () => {
    const records = zstdDecompress(zstdBombRecords(300_000));
    expect(records.length).toBeGreaterThan(300_000);
    expect(records.subarray(records.length - 300_001, records.length - 1).every((b) => b === 0)).toBe(true);
    const bomb = zstdBombRecords(MAX_DECOMPRESSED_BATCH_BYTES + 1024 * 1024);
    expect(bomb.length).toBeLessThan(10_000);
    expect(() => zstdDecompress(bomb)).toThrow(/expands past 268435456 bytes/);
  });
});
