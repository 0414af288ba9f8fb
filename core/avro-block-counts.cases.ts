// The reads of core/avro-block-counts.test.ts that would never end without the bound (2^50 items read from an empty
// tap, in a loop no timeout can interrupt), as functions the test runs in a thread of its own (test/ends-within.ts):
// a lost bound then fails the test at a deadline instead of hanging it. Each returns what happened as plain data, for
// the test to judge.
import avro from 'avsc';
import { avroOptions, avroType, loadSchemaJson } from './avro.ts';
import { SCHEMA_FILES } from './topology.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import { lyingBlockCount } from '../test/lying-avro.ts';
import { seededRandom } from '../simulators/kit.ts';

export const HUGE = 2 ** 50;
export const raw = avroType(SCHEMA_FILES.rawEnvelope);
export const normalized = avroType(SCHEMA_FILES.normalized);
const envelope = {
  vendor: 'tencent-ccc',
  tenant_id: '1400000000',
  natural_key: 'k',
  received_at: new Date(1_764_547_200_000),
  connector: 'test',
  mode: 'live',
  request_id: null,
  payload: '{}',
  payload_format: 'json',
  attributes: { window: '1' },
};
const cdr = normalized.fromBuffer(normalized.toBuffer(sampleCdr(7))) as Record<string, unknown>;

/** What a read gave: the value, or the message of the Error it threw. */
export type Outcome = { decoded: unknown } | { threw: string };

/** What `read` did. A throw that is not an Error is thrown on: the call fails, as the test's check for an Error would. */
function outcome(read: () => unknown): Outcome {
  try {
    return { decoded: read() };
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    return { threw: err.message };
  }
}

/** Per count, `field` of the raw envelope or the normalized CDR saying that many items with a few bytes there, read. */
export function lyingCounts(which: 'raw envelope' | 'normalized CDR', field: string, counts: number[]): Outcome[] {
  const [type, record] = which === 'raw envelope' ? [raw, envelope] : [normalized, cdr];
  return counts.map((count) => outcome(() => type.fromBuffer(lyingBlockCount(type, record, field, count))));
}

/**
 * Lying counts read through a resolver from an older writer schema, and in fields a resolver skips because the
 * reader does not have them; then a true body through the skipping resolver.
 */
export function throughResolvers(): Record<'olderWriter' | 'skippedArray' | 'skippedMap' | 'trueSkipped', Outcome> {
  const v1 = avro.Type.forSchema(loadSchemaJson('history/cdr-normalized.v1.avsc') as avro.Schema, avroOptions());
  const resolver = normalized.createResolver(v1);
  const writer = avro.Type.forSchema({
    type: 'record',
    name: 'R',
    fields: [
      { name: 'gone', type: { type: 'array', items: 'string' } },
      { name: 'b', type: { type: 'map', values: 'long' } },
      { name: 'a', type: 'string' },
    ],
  });
  const reader = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] });
  const skipping = reader.createResolver(writer);
  return {
    olderWriter: outcome(() => normalized.fromBuffer(lyingBlockCount(v1, cdr, 'legs', HUGE), resolver)),
    skippedArray: outcome(() => reader.fromBuffer(lyingBlockCount(writer, {}, 'gone', HUGE), skipping)),
    skippedMap: outcome(() => reader.fromBuffer(lyingBlockCount(writer, { gone: [] }, 'b', -HUGE), skipping)),
    trueSkipped: outcome(() =>
      reader.fromBuffer(writer.toBuffer({ gone: ['x', 'y'], b: { k: 1 }, a: 'kept' }), skipping),
    ),
  };
}

/** 2,000 raw envelopes, each with an extreme varint written over one of its bytes (seeded), read. */
export function envelopeFuzz(): Outcome[] {
  const random = seededRandom(7);
  const long = avro.Type.forSchema('long');
  const extremes = [2 ** 30, -(2 ** 30), 2 ** 40, 2 ** 52, -(2 ** 52), 2 ** 31, 1_000_000].map((v) => long.toBuffer(v));
  const bodies = Array.from({ length: 50 }, (_, i) =>
    raw.toBuffer({
      ...envelope,
      natural_key: `k${i}`,
      attributes: { window: String(i), line: '7', mode: 'x'.repeat(i) },
    }),
  );
  return Array.from({ length: 2000 }, (_, n) => {
    const body = bodies[n % bodies.length]!;
    const at = Math.floor(random() * body.length);
    const mutated = Buffer.concat([
      body.subarray(0, at),
      extremes[Math.floor(random() * extremes.length)]!,
      body.subarray(at + 1),
    ]);
    return outcome(() => raw.fromBuffer(mutated));
  });
}
