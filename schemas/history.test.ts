// The compatibility promise, checked offline on every published version kept in schemas/history/: the current
// contract reads every older record (BACKWARD: new fields have defaults, nothing removed or retyped), and a reader on
// an older version still reads records of the current one (old consumers keep working). The registry enforces the
// first against what it holds (`cdrflow schemas check`); this test also covers a fresh registry.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroOptions, loadSchemaJson } from '../core/avro.ts';
import { SCHEMA_FILES } from '../core/topology.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';

const HISTORY = fileURLToPath(new URL('./history/', import.meta.url));
const typeOf = (file: string) => avro.Type.forSchema(loadSchemaJson(file) as avro.Schema, avroOptions());
const versions = readdirSync(HISTORY).filter((f) => f.startsWith('cdr-normalized.v')).sort();

describe('cdr-normalized history', () => {
  it('keeps every published version', () => {
    expect(versions).toContain('cdr-normalized.v1.avsc');
  });

  it.each(versions)('%s: the current schema reads its records, and its readers read current records', (file) => {
    const old = typeOf(`history/${file}`);
    const current = typeOf(SCHEMA_FILES.normalized);
    const oldFields = new Set(((loadSchemaJson(`history/${file}`) as { fields: { name: string }[] }).fields).map((f) => f.name));
    for (let i = 0; i < 40; i++) {
      const record = sampleCdr(i);
      const oldRecord = Object.fromEntries(Object.entries(record).filter(([k]) => oldFields.has(k)));
      // BACKWARD: an old record read with the current schema gets every new field's default.
      const upgraded = current.fromBuffer(old.toBuffer(oldRecord), current.createResolver(old)) as Record<string, unknown>;
      for (const [k, v] of Object.entries(upgraded)) if (!oldFields.has(k)) expect(v, k).toBeNull();
      // FORWARD for old consumers: a current record read with the old schema loses only the new fields.
      expect(old.fromBuffer(current.toBuffer(record), old.createResolver(current))).toEqual(oldRecord);
    }
  });
});

describe('dead-letter history', () => {
  const letters = readdirSync(HISTORY).filter((f) => f.startsWith('dead-letter.v')).sort();
  const letter = {
    original_value: Buffer.from('{"id":"a"}'),
    original_key: null,
    origin_topic: 'raw',
    origin_partition: 0,
    origin_offset: 7,
    error_kind: 'bad_record',
    error_message: 'why',
    component: 'normalize',
    vendor: 'tencent-ccc',
    cdr_id: null,
    failed_at: new Date(0),
  };

  it('keeps every published version', () => {
    expect(letters).toContain('dead-letter.v1.avsc');
  });

  it.each(letters)('%s: the current schema reads its letters, and its readers read current letters', (file) => {
    const old = typeOf(`history/${file}`);
    const current = typeOf(SCHEMA_FILES.deadLetter);
    const upgraded = current.fromBuffer(old.toBuffer(letter), current.createResolver(old)) as Record<string, unknown>;
    expect(upgraded).toEqual({ ...letter, original_size: null });
    expect(old.fromBuffer(current.toBuffer({ ...letter, original_size: 600_000 }), old.createResolver(current))).toEqual(letter);
  });
});
