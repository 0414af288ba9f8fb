import { describe, expect, it } from 'vitest';
import { avroType } from './avro.ts';
import { SCHEMA_FILES } from './topology.ts';

describe('avroType', () => {
  it('round-trips timestamp-millis as Date', () => {
    const type = avroType(SCHEMA_FILES.rawEnvelope);
    const record = {
      vendor: 'tencent-ccc',
      tenant_id: '1400000000',
      natural_key: 'abc',
      received_at: new Date('2026-11-22T01:02:03.456Z'),
      connector: 'test',
      mode: 'live',
      request_id: null,
      payload: '{"SessionId":"abc"}',
      payload_format: 'json',
      attributes: {},
    };
    const decoded = type.fromBuffer(type.toBuffer(record)) as typeof record;
    expect(decoded.received_at).toBeInstanceOf(Date);
    expect(decoded.received_at.toISOString()).toBe('2026-11-22T01:02:03.456Z');
  });

  it('rejects a non-Date timestamp', () => {
    const type = avroType(SCHEMA_FILES.deadLetter);
    expect(
      type.isValid({ origin_topic: 't', error_kind: 'bad_record', error_message: 'x', component: 'c', failed_at: 123 }),
    ).toBe(false);
  });

  it('parses every schema file', () => {
    for (const file of Object.values(SCHEMA_FILES)) expect(avroType(file).name).toMatch(/^dev\.cdrflow\./);
  });
});
