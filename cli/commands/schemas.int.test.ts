// `cdrflow schemas check` logic against the real registry: BACKWARD-compatible edits pass, breaking ones are caught.
import { describe, expect, it } from 'vitest';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { loadSchemaJson } from '../../core/avro.ts';
import { testInfra, testRegistry, uniqueName } from '../../test/helpers.ts';
import { checkCompatibility } from './schemas.ts';

describe('schemas check', () => {
  it('accepts an added field with a default, rejects a new required field and a changed field type', async () => {
    const registry = testRegistry();
    const url = testInfra().schemaRegistryUrl;
    const subject = `${uniqueName('compat')}-value`;
    const v1 = loadSchemaJson('cdr-normalized.avsc') as { fields: Record<string, unknown>[] };
    expect(await checkCompatibility(url, subject, v1)).toEqual({ subject, verdict: 'new' });
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    expect(await checkCompatibility(url, subject, v1)).toEqual({ subject, verdict: 'compatible' });

    const withOptional = { ...v1, fields: [...v1.fields, { name: 'carrier', type: ['null', 'string'], default: null }] };
    expect((await checkCompatibility(url, subject, withOptional)).verdict).toBe('compatible');

    const withRequired = { ...v1, fields: [...v1.fields, { name: 'carrier', type: 'string' }] };
    expect((await checkCompatibility(url, subject, withRequired)).verdict).toBe('incompatible');

    const retyped = { ...v1, fields: v1.fields.map((f) => (f['name'] === 'talk_seconds' ? { ...f, type: 'string', default: '0' } : f)) };
    expect((await checkCompatibility(url, subject, retyped)).verdict).toBe('incompatible');
  });
});
