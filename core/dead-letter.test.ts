// A dead letter must fit in one Kafka message whatever it carries: the cut is deterministic and named in the reason.
import { createHash } from 'node:crypto';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroOptions, avroType, loadSchemaJson, type SchemaRegistry } from './avro.ts';
import { SCHEMA_FILES } from './topology.ts';
import { DEAD_LETTER_LIMITS, DeadLetterWriter, deadLetterForPayload, withinDeadLetterLimits, type DeadLetter } from './dead-letter.ts';
import { LINES_LOGGED_PER_SECOND } from './log-limit.ts';
import { memoryLog } from './log.ts';

const letter = (over: Partial<DeadLetter> = {}): DeadLetter => ({
  ...deadLetterForPayload('{"id":"a"}', { kind: 'bad_record', message: 'why' }, 'test', { topic: 'raw', vendor: 'tencent-ccc', failed_at: new Date(0) }),
  ...over,
});

describe('withinDeadLetterLimits', () => {
  it('leaves a letter within the limits as it is (the same object)', () => {
    const at = letter({ original_value: Buffer.alloc(DEAD_LETTER_LIMITS.valueBytes, 1), original_key: Buffer.alloc(DEAD_LETTER_LIMITS.keyBytes, 2), error_message: 'm'.repeat(DEAD_LETTER_LIMITS.messageChars) });
    expect(withinDeadLetterLimits(at)).toBe(at);
  });

  it('cuts value, key and reason one byte or character over, naming each cut with the full length and SHA-256', () => {
    const value = Buffer.alloc(DEAD_LETTER_LIMITS.valueBytes + 1, 0x61);
    const key = Buffer.alloc(DEAD_LETTER_LIMITS.keyBytes + 1, 0x6b);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const cut = withinDeadLetterLimits(letter({ original_value: value, original_key: key, error_message: 'r'.repeat(DEAD_LETTER_LIMITS.messageChars + 1) }));
    // Buffer.compare: vitest's deep equality walks half a megabyte byte by byte.
    expect(Buffer.compare(cut.original_value!, value.subarray(0, DEAD_LETTER_LIMITS.valueBytes))).toBe(0);
    expect(Buffer.compare(cut.original_key!, key.subarray(0, DEAD_LETTER_LIMITS.keyBytes))).toBe(0);
    expect(cut.error_message).toBe(
      `${'r'.repeat(DEAD_LETTER_LIMITS.messageChars)}… (${DEAD_LETTER_LIMITS.messageChars + 1} characters) ` +
        `[original_value cut to its first ${DEAD_LETTER_LIMITS.valueBytes} of ${value.length} bytes (sha256 ${sha(value)}); ` +
        `original_key cut to its first ${DEAD_LETTER_LIMITS.keyBytes} of ${key.length} bytes (sha256 ${sha(key)})]`,
    );
    // The full size rides along (the dead-letter table's original_size); everything else is the letter's own.
    expect(cut.original_size).toBe(value.length);
    expect({ ...cut, original_value: null, original_key: null, error_message: '', original_size: null }).toEqual({ ...letter(), original_value: null, original_key: null, error_message: '', original_size: null });
  });

  it('a cut key or reason alone leaves original_size unset (the value is all there)', () => {
    const cut = withinDeadLetterLimits(letter({ original_key: Buffer.alloc(DEAD_LETTER_LIMITS.keyBytes + 1, 0x6b) }));
    expect(cut.original_size).toBeUndefined();
  });

  it('cuts a vendor or cdr_id taken from a hostile record (an envelope naming a 1 MB vendor): with a full value it made a letter over the broker\'s 1 MiB, which stopped normalize on it at every restart', async () => {
    const registry = { register: async () => ({ id: 7 }), getSchema: async () => avroType(SCHEMA_FILES.deadLetter) } as unknown as SchemaRegistry;
    const writer = new DeadLetterWriter(registry, 'cdr.dlq', memoryLog());
    const vendor = 'v'.repeat(1_000_000);
    const cdrId = `tencent-ccc:${'k'.repeat(600_000)}`;
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const given = letter({ original_value: Buffer.alloc(1_000_000, 0x61), vendor, cdr_id: cdrId });
    const { key, value } = await writer.message(given);
    expect(Buffer.byteLength(key ?? '') + value.length).toBeLessThan(DEAD_LETTER_LIMITS.valueBytes + 64 * 1024);
    const cut = withinDeadLetterLimits(given);
    expect([cut.vendor, cut.cdr_id]).toEqual([vendor.slice(0, DEAD_LETTER_LIMITS.textChars), cdrId.slice(0, DEAD_LETTER_LIMITS.textChars)]);
    expect(cut.error_message).toContain(`; vendor cut to its first ${DEAD_LETTER_LIMITS.textChars} of ${vendor.length} characters (sha256 ${sha(vendor)}); cdr_id cut to its first ${DEAD_LETTER_LIMITS.textChars} of ${cdrId.length} characters (sha256 ${sha(cdrId)})]`);
    // At the limit, kept as they are.
    const at = letter({ vendor: 'v'.repeat(DEAD_LETTER_LIMITS.textChars), cdr_id: 'c'.repeat(DEAD_LETTER_LIMITS.textChars) });
    expect(withinDeadLetterLimits(at)).toBe(at);
  });

  it('keeps a letter without its original (null) as it is', () => {
    const none = letter({ original_value: null });
    expect(withinDeadLetterLimits(none)).toBe(none);
  });
});

describe('the dead-letter schema', () => {
  it('carries original_size; a letter without it reads back with null', () => {
    const type = avro.Type.forSchema(loadSchemaJson(SCHEMA_FILES.deadLetter) as never, avroOptions());
    const big = withinDeadLetterLimits(letter({ original_value: Buffer.alloc(DEAD_LETTER_LIMITS.valueBytes + 10, 0x61) }));
    expect((type.fromBuffer(type.toBuffer(big)) as DeadLetter).original_size).toBe(DEAD_LETTER_LIMITS.valueBytes + 10);
    expect((type.fromBuffer(type.toBuffer(letter())) as DeadLetter).original_size).toBeNull();
  });
});

describe('the record.dead_lettered lines', () => {
  it('logs the first dead letters of a second per reason and stage and sums up the rest: 10,000 bad records in one second are not 10,000 lines', async () => {
    // A registry that has the dead-letter schema under id 7: the writer encodes without a server.
    const registry = { register: async () => ({ id: 7 }), getSchema: async () => avroType(SCHEMA_FILES.deadLetter) } as unknown as SchemaRegistry;
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_400 };
    const writer = new DeadLetterWriter(registry, 'cdr.dlq', log, () => clock.ms);
    for (let i = 0; i < 10_000; i++) await writer.message(letter({ origin_offset: i }));
    await writer.message(letter({ error_kind: 'bug' }));
    clock.ms += 1_000;
    await writer.message(letter({ origin_offset: 10_000 }));
    const lines = log.entries.filter((e) => e.event === 'record.dead_lettered');
    expect(lines).toHaveLength(LINES_LOGGED_PER_SECOND + 2);
    expect(lines[0]!.fields).toEqual({ reason: 'bad_record', stage: 'test', vendor: 'tencent-ccc', cdr_id: null, origin: 'raw[-1]@0', error: 'why', topic: 'cdr.dlq' });
    expect(log.entries.filter((e) => e.event === 'record.dead_lettered_suppressed').map((e) => e.fields)).toEqual([
      { reason: 'bad_record', stage: 'test', count: 10_000 - LINES_LOGGED_PER_SECOND, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });

  it('sums up the last second when its owner closes it: the process may end before the one-second timer runs', async () => {
    const registry = { register: async () => ({ id: 7 }), getSchema: async () => avroType(SCHEMA_FILES.deadLetter) } as unknown as SchemaRegistry;
    const log = memoryLog();
    const writer = new DeadLetterWriter(registry, 'cdr.dlq', log, () => 1_764_900_000_400);
    for (let i = 0; i < LINES_LOGGED_PER_SECOND + 5; i++) await writer.message(letter({ origin_offset: i }));
    writer.close();
    expect(log.entries.filter((e) => e.event === 'record.dead_lettered_suppressed').map((e) => e.fields)).toEqual([
      { reason: 'bad_record', stage: 'test', count: 5, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });
});
