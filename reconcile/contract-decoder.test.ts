// Reconcile reads the topics as the stages do: a value that is no record of the contract is skipped (and counted by
// the caller), the registry away fails the run. It decoded each value with its own writer schema before: a writer with
// the contract's field names and other types gave records reconcile then stumbled over, and a registry away read as
// records missing.
import avro from 'avsc';
import { afterEach, describe, expect, it } from 'vitest';
import { avroOptions, createRegistry, encodeFramed, loadSchemaJson } from '../core/avro.ts';
import { SCHEMA_FILES } from '../core/topology.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import type { NormalizedCdr } from '../transforms/normalize/index.ts';
import { registryStub, type RegistryStub } from '../test/registry-stub.ts';
import { contractDecoder } from './contract-decoder.ts';

const stubs: RegistryStub[] = [];
afterEach(() => {
  for (const s of stubs.splice(0)) s.close();
});

/** The registry stub (test/registry-stub.ts) serving these schemas by id, closed after the test. */
async function registryServing(schemas: Record<number, object>) {
  const stub = await registryStub((id) => schemas[id]);
  stubs.push(stub);
  return stub.registry;
}

describe('contractDecoder', () => {
  it('reads the contract, skips what is no record of it, and fails when the registry is away', async () => {
    const contract = loadSchemaJson(SCHEMA_FILES.normalized) as { fields: { name: string }[] };
    // The contract's field names with started_at as a string: decoded with its own schema it was a "record".
    const impostor = { ...contract, fields: contract.fields.map((f) => (f.name === 'started_at' ? { name: 'started_at', type: 'string' } : f)) };
    const registry = await registryServing({ 1: contract, 2: impostor });
    const decode = contractDecoder<NormalizedCdr>(registry, SCHEMA_FILES.normalized, 'cdr.normalized');
    const cdr = sampleCdr(1);
    const type = (schema: object) => avro.Type.forSchema(schema as avro.Schema, avroOptions());
    expect((await decode(encodeFramed(type(contract), 1, cdr)))?.cdr_id).toBe(cdr.cdr_id);
    expect(await decode(encodeFramed(type(impostor), 2, { ...cdr, started_at: 'yesterday' }))).toBeUndefined();
    expect(await decode(encodeFramed(type(contract), 3, cdr))).toBeUndefined(); // an id the registry does not know
    expect(await decode(Buffer.from('not framed'))).toBeUndefined();
    // The registry away: asked again (a hiccup is waited out), then the run fails instead of reading as records missing.
    let asked = 0;
    const flaky = await registryServing({ 1: contract });
    const away = createRegistry('http://127.0.0.1:9');
    const counting = new Proxy(away, { get: (t, k) => (k === 'getSchema' ? (id: number) => (asked++, asked === 3 ? flaky.getSchema(id) : t.getSchema(id)) : Reflect.get(t, k)) });
    const mends = contractDecoder<NormalizedCdr>(counting, SCHEMA_FILES.normalized, 'cdr.normalized', { maxAttempts: 3, initialMs: 1 });
    expect((await mends(encodeFramed(type(contract), 1, cdr)))?.cdr_id).toBe(cdr.cdr_id);
    expect(asked).toBe(3);
    const gone = contractDecoder<NormalizedCdr>(away, SCHEMA_FILES.normalized, 'cdr.normalized', { maxAttempts: 2, initialMs: 1 });
    await expect(gone(encodeFramed(type(contract), 1, cdr))).rejects.toMatchObject({ kind: 'transient' });
  });
});
