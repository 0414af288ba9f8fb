// The record decoder that replaces kafkajs's (kafkajs-record-headers.ts): the same record, header object included, as
// kafkajs's own for seeded random records, and a record of 200,000 headers decoded at once instead of in minutes.
import './kafkajs-setup.ts';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { kafkajsRecordDecoder } from './kafkajs-record-headers.ts';
import { recordBody } from './kafkajs-record-headers.cases.ts';
import { seededRandom } from '../simulators/kit.ts';
import { endsWithin } from '../test/ends-within.ts';

const require = createRequire(import.meta.url);
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => object;
type Decoded = Record<string, unknown> & { headers: Record<string, unknown> };
const installed = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (d: object, context?: object) => Decoded;
const own = kafkajsRecordDecoder as unknown as (d: object, context?: object) => Decoded;

// Names that collide with what every object inherits, an empty one, integer-like ones (ordered first by JavaScript)
// and multibyte ones: kafkajs's lookups of those are reproduced as they are.
const KEYS = ['a', 'b', 'trace-id', '__proto__', 'toString', 'constructor', 'hasOwnProperty', '', '1', '0', '10', '键', 'a'];

/** Own property names in order, and each one's value: what equality must hold on, `__proto__` included. */
function ownEntries(o: Record<string, unknown>): [string, unknown][] {
  return Object.getOwnPropertyNames(o).map((k) => [k, Object.getOwnPropertyDescriptor(o, k)!.value]);
}

describe("kafkajs's record decoder, replaced", () => {
  it('is in place: kafkajs loads the replacement, not its own', () => {
    expect(installed).not.toBe(own);
  });

  it('decodes 400 seeded random records exactly as kafkajs does, header object and its prototype-named keys included', () => {
    const random = seededRandom(41);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const blob = () => (random() < 0.2 ? null : Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256))));
    for (let i = 0; i < 400; i++) {
      const headers = Array.from({ length: Math.floor(random() * 12) }, (): [string, Buffer | null] => [pick(KEYS), blob()]);
      const body = recordBody({ timestampDelta: Math.floor(random() * 1e6) - 5e5, offsetDelta: Math.floor(random() * 1e5), key: blob(), value: blob(), headers });
      const context = pick([
        { firstOffset: '1000', firstTimestamp: '1764547200000', magicByte: 2, timestampType: 0 },
        { firstOffset: '9007199254740993', firstTimestamp: '1764547200000', magicByte: 2, timestampType: 1, maxTimestamp: '1764547299999' },
        { firstOffset: '5', firstTimestamp: '0', magicByte: 2, isControlBatch: true },
      ]);
      const ours = installed(new Decoder(body), context);
      const theirs = own(new Decoder(body), context);
      const { headers: h1, ...rest1 } = ours;
      const { headers: h2, ...rest2 } = theirs;
      expect(rest1, `record ${i}`).toEqual(rest2);
      expect(ownEntries(h1), `record ${i}'s headers ${JSON.stringify(headers.map(([k]) => k))}`).toEqual(ownEntries(h2));
      expect(Object.getPrototypeOf(h1)).toBe(Object.getPrototypeOf(h2));
    }
  });

  it('decodes a record of 200,000 headers at once, with keys alike or all distinct (kafkajs took 98 and 114 s)', async () => {
    const bounded = endsWithin<typeof import('./kafkajs-record-headers.cases.ts')>(
      new URL('./kafkajs-record-headers.cases.ts', import.meta.url),
      10_000,
      "a record's headers are gathered in quadratic time again (core/kafkajs-record-headers.ts)",
    );
    expect(await bounded('decodeManyHeaders', 200_000, false)).toBe(200_000);
    expect(await bounded('decodeManyHeaders', 200_000, true)).toBe(200_000);
  }, 60_000);
});

describe("the benchmark's switch to kafkajs's own record decoder", () => {
  it("decodes with kafkajs's own while on, and with the replacement again once off", async () => {
    const { useKafkajsOwnRecordDecoder } = await import('./kafkajs-record-headers.ts');
    const body = recordBody({ timestampDelta: 0, offsetDelta: 0, key: null, value: null, headers: [['h', null], ['h', null]] });
    // kafkajs's own gathers headers with Array.prototype.reduce, the replacement never calls it: counted here.
    const reduce = Array.prototype.reduce;
    let reduced = 0;
    Array.prototype.reduce = function (this: unknown[], ...args: Parameters<typeof reduce>) {
      reduced++;
      return reduce.apply(this, args);
    } as typeof reduce;
    const decodes = (own: boolean) => {
      useKafkajsOwnRecordDecoder(own);
      reduced = 0;
      installed(new Decoder(body), { firstOffset: '0', firstTimestamp: '0' });
      return reduced;
    };
    try {
      expect([decodes(true), decodes(false)]).toEqual([1, 0]);
    } finally {
      Array.prototype.reduce = reduce;
      useKafkajsOwnRecordDecoder(false);
    }
  });
});
