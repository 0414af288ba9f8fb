// Both paths of sinks/clickhouse/avro-tsv.test.ts on one body, and its fuzz, whose bodies say extreme item counts:
// without the bound of core/avro-block-counts.ts the slow path reads such a count's items one by one from an empty
// buffer, in a loop no timeout can interrupt. The test runs the fuzz in a thread of its own (test/ends-within.ts), so
// a lost bound fails it at a deadline instead of hanging it; what each body gave comes back as plain data, for the
// test to judge.
import avro from 'avsc';
import { avroType } from '../../core/avro.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { seededRandom } from '../../simulators/kit.ts';
import { LineWriter, TsvTranscoder, type RowFacts } from './avro-tsv.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { cdrTsvLine } from './rows.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';

export const type = avroType(SCHEMA_FILES.normalized);
const fast = TsvTranscoder.compile(type)!;
const at = { topic: 'cdr.normalized\tx', partition: 2, offset: 3_000_000_123 };

/** What each path made of one body; lines as latin1 text, one character a byte. */
export interface Outcome {
  /** The fast path's facts of the row; undefined when it handed the body back. */
  facts: RowFacts | undefined;
  /** What the fast path wrote after what its writer held. */
  line: string;
  /** Whether the fast path left its writer as it was. */
  untouched: boolean;
  /** The slow path's (decode + cdrTsvLine) line and facts; undefined where avsc or rendering refuses the body. */
  slow: { line: string; facts: RowFacts } | undefined;
}

/** The slow path's line, or undefined where avsc (or rendering) refuses the body. */
function slowLine(body: Buffer): Outcome['slow'] {
  try {
    const cdr = type.fromBuffer(body) as NormalizedCdr;
    return {
      line: Buffer.from(cdrTsvLine(cdr, at)).toString('latin1'),
      facts: {
        vendor: cdr.vendor,
        cdr_id: cdr.cdr_id,
        received_at: cdr.received_at.getTime(),
        talk_seconds: cdr.talk_seconds,
        billable_seconds: cdr.billable_seconds,
        billable_minutes: cdr.billable_minutes,
        answered: cdr.end_status === 'ANSWERED' || cdr.answered_at !== null,
      },
    };
  } catch {
    return undefined;
  }
}

export function fastLine(body: Buffer) {
  const w = new LineWriter(16);
  w.text('before\n');
  const facts = fast.transcode(body, 0, at, w);
  return { facts, line: w.buf.subarray(7, w.pos), untouched: w.pos === 7 };
}

export function outcomeOf(body: Buffer): Outcome {
  const slow = slowLine(body);
  const { facts, line, untouched } = fastLine(body);
  return { facts, line: line.toString('latin1'), untouched, slow };
}

/** 5,000 sample CDRs mutated (seeded): cut, a byte added, bytes flipped, an extreme varint written over a byte. */
export function fuzzOutcomes(): Outcome[] {
  const random = seededRandom(99);
  const bodies = Array.from({ length: 200 }, (_, i) => type.toBuffer(sampleCdr(i)));
  const long = avro.Type.forSchema('long');
  // Written over a byte: as a length, a union or enum index, a time, or an array's or a map's item count (a count
  // of 2^30 kept the slow path reading items from an empty buffer for 13 s; core/avro-block-counts.ts).
  const extremes = [2 ** 30, -(2 ** 30), 2 ** 40, -(2 ** 40), 2 ** 52, -(2 ** 52), 2 ** 31, 1_000_000].map((v) =>
    long.toBuffer(v),
  );
  return Array.from({ length: 5000 }, (_, n) => {
    const body = Buffer.from(bodies[n % bodies.length]!);
    const kind = n % 5;
    let mutated: Buffer;
    if (kind === 0) mutated = body.subarray(0, Math.floor(random() * body.length));
    else if (kind === 1) mutated = Buffer.concat([body, Buffer.from([Math.floor(random() * 256)])]);
    else if (kind === 4) {
      const at = Math.floor(random() * body.length);
      mutated = Buffer.concat([
        body.subarray(0, at),
        extremes[Math.floor(random() * extremes.length)]!,
        body.subarray(at + 1),
      ]);
    } else {
      for (let k = 0; k < 1 + kind; k++) body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
      mutated = body;
    }
    return outcomeOf(mutated);
  });
}
