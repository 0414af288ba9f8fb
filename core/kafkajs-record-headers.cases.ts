// Records as a broker hands them to kafkajs, bytes built here (Kafka's v2 record format), for
// kafkajs-record-headers.test.ts; decodeManyHeaders runs in a thread of its own there (test/ends-within.ts), so that
// a quadratic decoder fails the test at a deadline instead of holding it for minutes.
import './kafkajs-setup.ts';
import { createRequire } from 'node:module';
import { varint } from '../test/hostile-batches.ts';

const require = createRequire(import.meta.url);
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => object;
const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (d: object, context: object) => { headers: Record<string, unknown> };

const bytes = (b: Buffer | null) => (b === null ? varint(-1) : [...varint(b.length), ...b]);

/** One record's body (after its length): attributes, deltas, key, value, headers. */
export function recordBody(r: { timestampDelta: number; offsetDelta: number; key: Buffer | null; value: Buffer | null; headers: [string, Buffer | null][] }): Buffer {
  const headers = r.headers.flatMap(([k, v]) => [...bytes(Buffer.from(k)), ...bytes(v)]);
  return Buffer.from([0, ...varint(r.timestampDelta), ...varint(r.offsetDelta), ...bytes(r.key), ...bytes(r.value), ...varint(r.headers.length), ...headers]);
}

/** Decodes one record of `n` headers (keys all alike, or all distinct) with the installed decoder: its header keys. */
export function decodeManyHeaders(n: number, distinct: boolean): number {
  const headers = Array.from({ length: n }, (_, i): [string, Buffer | null] => [distinct ? String(i) : 'k', null]);
  const record = RecordDecoder(new Decoder(recordBody({ timestampDelta: 0, offsetDelta: 0, key: null, value: null, headers })), { firstOffset: '0', firstTimestamp: '0' });
  const h = record.headers;
  return distinct ? Object.keys(h).length : (h['k'] as unknown[]).length;
}
