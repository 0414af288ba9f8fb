import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ReaderCodec, avroOptions, avroType, encodeFramed, loadSchemaJson, type SchemaRegistry } from '../../core/avro.ts';
import { deadLetterForPayload, type DeadLetter } from '../../core/dead-letter.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { LINES_LOGGED_PER_SECOND } from '../../core/log-limit.ts';
import { memoryLog } from '../../core/log.ts';
import { DLQ_LOADER, decodeDeadLetter, skippedLog } from './dlq-loader.ts';

const garbage = (offset: number): DeadLetter => ({
  original_value: Buffer.from('not avro'),
  original_key: null,
  origin_topic: 'cdr.dlq',
  origin_partition: 0,
  origin_offset: offset,
  error_kind: 'bad_record',
  error_message: 'decoding cdr.dlq[0]@… : unknown magic byte',
  component: DLQ_LOADER,
  vendor: null,
  cdr_id: null,
  failed_at: new Date(0),
});

describe('the dlq-loader.skipped lines', () => {
  it('logs the first skipped messages of a second per reason and sums up the rest: a topic of garbage is not one line per message', () => {
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_900 };
    const lines = skippedLog(log, () => clock.ms);
    lines.skipped(Array.from({ length: 5_000 }, (_, i) => garbage(i)));
    clock.ms += 1_000;
    lines.close();
    const skipped = log.entries.filter((e) => e.event === `${DLQ_LOADER}.skipped`);
    expect(skipped).toHaveLength(LINES_LOGGED_PER_SECOND);
    expect(skipped[0]!.fields).toEqual({ reason: 'bad_record', at: 'cdr.dlq[0]@0', bytes: 8, error: garbage(0).error_message });
    expect(log.entries.filter((e) => e.event === `${DLQ_LOADER}.skipped_suppressed`).map((e) => e.fields)).toEqual([
      { reason: 'bad_record', count: 5_000 - LINES_LOGGED_PER_SECOND, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });
});

describe('decodeDeadLetter: a letter the table would store as something else is refused (skipped), not loaded', () => {
  const type = avroType(SCHEMA_FILES.deadLetter);
  const registry = { getSchema: async () => type } as unknown as SchemaRegistry;
  // The same schema with origin_partition a long: an int and a long share their encoding, and avsc would not write an
  // int beyond Int32 from an object, while it reads an int's varint as a long.
  const schema = loadSchemaJson(SCHEMA_FILES.deadLetter) as { fields: { name: string; type: unknown }[] };
  const wide = avro.Type.forSchema({ ...schema, fields: schema.fields.map((f) => (f.name === 'origin_partition' ? { ...f, type: 'long' } : f)) } as avro.Schema, avroOptions());
  const letter = (partition: number): DeadLetter => ({
    ...deadLetterForPayload('x', { kind: 'bad_record', message: 'why' }, 'normalize', { topic: 'cdr.raw.tencent-ccc', vendor: null, failed_at: new Date('2025-12-01T00:00:00Z') }),
    origin_partition: partition,
  });

  it('an origin_partition beyond Int32 (the table\'s Int32 column took it wrapped: 2^32 + 5 was stored as 5)', async () => {
    for (const n of [2 ** 32 + 5, 2 ** 31, -(2 ** 31) - 1, 2 ** 40]) {
      const decoding = decodeDeadLetter(new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter), encodeFramed(wide, 1, letter(n)), 'cdr.dlq[0]@7');
      await expect(decoding, String(n)).rejects.toMatchObject({ kind: 'bad_record', message: `cdr.dlq[0]@7: origin_partition ${n} is outside the Int32 of cdr_dead_letters` });
    }
    // Its edges are loaded as they are.
    for (const n of [2 ** 31 - 1, -(2 ** 31), -1]) {
      const decoded = await decodeDeadLetter(new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter), encodeFramed(wide, 1, letter(n)), 'cdr.dlq[0]@7');
      expect(decoded.origin_partition).toBe(n);
    }
  });
});
