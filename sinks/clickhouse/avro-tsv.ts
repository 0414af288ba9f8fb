// The sink's fast path for its default format: a cdr.normalized Avro body straight to its `cdr` TabSeparated line,
// byte for byte the line that decoding (avsc) and rendering (rows.ts cdrTsvLine) would give, without building the
// record or any string of it. Decode + render + packing the lines cost the render thread ~30 µs a row and most of its
// garbage; reading the Avro bytes and writing the TSV bytes costs a few.
//
// It only takes what it can prove equal to the slow path, and hands everything else back (`undefined`), untouched:
// - a body written under another schema than the sink's reader schema (the caller checks; a resolver is needed),
// - anything avsc would judge: truncated or trailing bytes, a bad union or enum index, a negative length, a long
//   beyond 2^53, a timestamp outside years 0001-9999, an int beyond Int32 (these are for the slow path to decode,
//   reject or dead-letter),
// - map entries (extras) are written from their bytes where that gives the quoted object (plain keys, none twice);
//   other maps are rebuilt as avsc builds them (a JS object, in its key order) and quoted by rows.ts (mapStep),
// - strings with non-ASCII bytes are decoded and re-encoded as UTF-8, as the slow path does (invalid sequences
//   become U+FFFD there too); ASCII is copied with its escapes.
// The plan is compiled from the reader schema once; when the schema's columns no longer line up with CDR_COLUMNS
// (a field added, moved or of a new shape), compile() returns undefined and the slow path renders every row.
import type avro from 'avsc';
import { CDR_COLUMNS, QUOTE_BYTE_ESCAPES, TSV_BYTE_ESCAPES, quotedValue, type SourcePosition } from './rows.ts';

/**
 * What the sink keeps of a row besides its line (dead letters name vendor and cdr_id; metrics read received_at), and
 * what it checks before the engine does (render.ts rowProblem: the row's identity, version and the cdr table's constraints).
 */
export interface RowFacts {
  vendor: string;
  cdr_id: string;
  received_at: number;
  talk_seconds: number;
  billable_seconds: number;
  billable_minutes: number;
  /** end_status is ANSWERED, or answered_at is set: what allows billable seconds. */
  answered: boolean;
}

/** Lines of one batch, written back to back into one growing buffer (transferred to the main thread as a whole). */
export class LineWriter {
  buf: Buffer;
  pos = 0;

  constructor(capacity = 64 * 1024) {
    // Never from the shared pool: the buffer is transferred to another thread.
    this.buf = Buffer.allocUnsafeSlow(capacity);
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    this.ensure(s.length * 3);
    this.pos += this.buf.write(s, this.pos);
  }

  /** A constant that is known to be ASCII (digits, symbols, escapes). */
  ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** An integer as decimal text (String(n) for the integers a long can hold below 2^53). */
  integer(n: number): void {
    if (n < 0 || n > 0x7fffffff) return this.ascii(String(n));
    this.ensure(10);
    if (n === 0) {
      this.buf[this.pos++] = 0x30;
      return;
    }
    let digits = 0;
    for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
    let at = this.pos + digits;
    this.pos = at;
    for (let m = n; m > 0; m = Math.floor(m / 10)) this.buf[--at] = 0x30 + (m % 10);
  }
}

/** Thrown inside a row when the body is for the slow path to judge; never escapes transcode(). */
const HAND_BACK = Symbol('hand back');

/** A cursor over one Avro body. */
interface Source {
  buf: Buffer;
  pos: number;
  end: number;
}

/** Zigzag varint, as avsc reads it; longer than 8 bytes or beyond 2^53 is handed back. */
function readLong(s: Source): number {
  let n = 0;
  let k = 0;
  let b: number;
  do {
    if (s.pos >= s.end) throw HAND_BACK;
    b = s.buf[s.pos++]!;
    if (k < 28) n |= (b & 0x7f) << k;
    else if (k < 56) n += (b & 0x7f) * 2 ** k;
    else throw HAND_BACK;
    k += 7;
  } while (b & 0x80);
  if (k <= 28) return (n >>> 1) ^ -(n & 1);
  if (n > Number.MAX_SAFE_INTEGER) throw HAND_BACK;
  return n % 2 ? -(n + 1) / 2 : n / 2;
}

/** [start, end) of the next string's bytes. */
function readStringSpan(s: Source): number {
  const len = readLong(s);
  if (len < 0 || s.pos + len > s.end) throw HAND_BACK;
  s.pos += len;
  return s.pos - len;
}

/** Copies bytes [start, end) with `escapes` (rows.ts, per byte); a string that is not pure ASCII goes through a JS string (see top). */
function writeEscaped(w: LineWriter, src: Buffer, start: number, end: number, escapes: Int16Array): void {
  for (let i = start; i < end; i++) {
    if (src[i]! >= 0x80) {
      src = Buffer.from(src.toString('utf8', start, end));
      start = 0;
      end = src.length;
      break;
    }
  }
  w.ensure(2 * (end - start));
  const out = w.buf;
  let at = w.pos;
  for (let i = start; i < end; i++) {
    const c = src[i]!;
    // Bytes of multi-byte UTF-8 sequences (>= 0x80) are never escaped.
    const e = c < 0x80 ? escapes[c]! : -1;
    if (e < 0) out[at++] = c;
    else {
      out[at++] = 0x5c;
      out[at++] = e;
    }
  }
  w.pos = at;
}

/** 'YYYY-MM-DD hh:mm:ss.mmm' (rows.ts chTime) from epoch millis, by calendar arithmetic; other years handed back. */
function writeChTime(w: LineWriter, ms: number): void {
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) throw HAND_BACK;
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  // Days since 1970-01-01 to a civil date (proleptic Gregorian, eras of 400 years).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  w.ensure(23);
  const b = w.buf;
  const p = w.pos;
  put2(b, p, Math.floor(year / 100));
  put2(b, p + 2, year % 100);
  b[p + 4] = 0x2d; // -
  put2(b, p + 5, month);
  b[p + 7] = 0x2d;
  put2(b, p + 8, day);
  b[p + 10] = 0x20; // space
  put2(b, p + 11, hour);
  b[p + 13] = 0x3a; // :
  put2(b, p + 14, minute);
  b[p + 16] = 0x3a;
  put2(b, p + 17, second);
  b[p + 19] = 0x2e; // .
  b[p + 20] = 0x30 + Math.floor(milli / 100);
  put2(b, p + 21, milli % 100);
  w.pos = p + 23;
}

/** Two decimal digits of 0-99. */
function put2(b: Buffer, at: number, n: number): void {
  b[at] = 0x30 + Math.floor(n / 10);
  b[at + 1] = 0x30 + (n % 10);
}
/**
 * 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: after 9999 toISOString writes a signed 6-digit year; the
 * engine reads the year 0000 as the current year (a call of 0000-07-15 was stored as this July, in this month's
 * partition), and before it the year is signed too.
 */
export const MIN_TIME_MS = -62_135_596_800_000;
export const MAX_TIME_MS = 253_402_300_799_999;

/** Reads one value and writes it (a TSV field, or a literal inside a nested value); notes the row's facts. */
type Step = (s: Source, w: LineWriter, row: RowFacts) => void;
type Context = 'tsv' | 'quoted';

/** avsc's Type, as far as the plan reads it. */
interface TypeShape {
  typeName: string;
  types?: TypeShape[];
  symbols?: string[];
  fields?: { name: string; type: TypeShape }[];
  itemsType?: TypeShape;
  valuesType?: TypeShape;
  underlyingType?: TypeShape;
}

const NULL_TEXT: Record<Context, string> = { tsv: '\\N', quoted: 'NULL' };

/** A union of null and one other type: its null branch index and the other type. */
function nullable(t: TypeShape): { nullIndex: number; other: TypeShape } | undefined {
  const types = t.types;
  if (t.typeName !== 'union:unwrapped' || !types || types.length !== 2) return undefined;
  const nullIndex = types.findIndex((x) => x.typeName === 'null');
  if (nullIndex < 0) return undefined;
  return { nullIndex, other: types[1 - nullIndex]! };
}

function stringStep(ctx: Context): Step {
  if (ctx === 'tsv') {
    return (s, w) => {
      const start = readStringSpan(s);
      writeEscaped(w, s.buf, start, s.pos, TSV_BYTE_ESCAPES);
    };
  }
  return (s, w) => {
    const start = readStringSpan(s);
    writeQuoted(w, s.buf, start, s.pos);
  };
}

/** Bytes [start, end) as a quoted literal: in single quotes, with the quoted-literal escapes. */
function writeQuoted(w: LineWriter, src: Buffer, start: number, end: number): void {
  w.byte(0x27);
  writeEscaped(w, src, start, end, QUOTE_BYTE_ESCAPES);
  w.byte(0x27);
}

/** The step of one value; undefined for a shape the slow path must render (then the whole plan is off). */
function valueStep(t: TypeShape, ctx: Context): Step | undefined {
  switch (t.typeName) {
    case 'string':
      return stringStep(ctx);
    case 'boolean':
      return (s, w) => {
        if (s.pos >= s.end) throw HAND_BACK;
        w.ascii(s.buf[s.pos++] ? 'true' : 'false');
      };
    case 'int':
      // avsc reads an int as a long: a varint beyond Int32 is the slow path's to refuse (render.ts intProblem).
      return (s, w) => {
        const n = readLong(s);
        if (n !== (n | 0)) throw HAND_BACK;
        w.integer(n);
      };
    case 'long':
      return (s, w) => w.integer(readLong(s));
    case 'logical:timestamp-millis':
      if (ctx === 'tsv') return (s, w) => writeChTime(w, readLong(s));
      return (s, w) => {
        const ms = readLong(s);
        w.byte(0x27);
        writeChTime(w, ms);
        w.byte(0x27);
      };
    case 'enum': {
      // Symbols are Avro names ([A-Za-z_][A-Za-z0-9_]*): nothing to escape in either context.
      const texts = (t.symbols ?? []).map((symbol) => (ctx === 'tsv' ? symbol : `'${symbol}'`));
      return (s, w) => {
        const text = texts[readLong(s)];
        if (text === undefined) throw HAND_BACK;
        w.ascii(text);
      };
    }
    case 'union:unwrapped': {
      const n = nullable(t);
      const other = n && valueStep(n.other, ctx);
      if (!n || !other) return undefined;
      const nullText = NULL_TEXT[ctx];
      const otherIndex = 1 - n.nullIndex;
      return (s, w, row) => {
        const index = readLong(s);
        if (index === n.nullIndex) w.ascii(nullText);
        else if (index === otherIndex) other(s, w, row);
        else throw HAND_BACK;
      };
    }
    case 'record': {
      // A tuple: (field,field,...) in quoted literals (rows.ts tupleQuoted).
      if (ctx !== 'quoted') return undefined;
      const fields = (t.fields ?? []).map((f) => valueStep(f.type, 'quoted'));
      if (fields.some((f) => f === undefined)) return undefined;
      const steps = fields as Step[];
      return (s, w, row) => {
        w.byte(0x28);
        for (let i = 0; i < steps.length; i++) {
          if (i > 0) w.byte(0x2c);
          steps[i]!(s, w, row);
        }
        w.byte(0x29);
      };
    }
    case 'array': {
      // Arrays of records are the tuple arrays (callees, legs, ivr_keys): [(…),(…)] in a TSV field.
      if (ctx !== 'tsv' || t.itemsType?.typeName !== 'record') return undefined;
      const item = valueStep(t.itemsType, 'quoted');
      if (!item) return undefined;
      return (s, w, row) => {
        w.byte(0x5b);
        let first = true;
        for (let n = readBlockCount(s); n > 0; n = readBlockCount(s)) {
          for (let i = 0; i < n; i++) {
            if (!first) w.byte(0x2c);
            first = false;
            item(s, w, row);
          }
        }
        w.byte(0x5d);
      };
    }
    case 'map': {
      if (t.valuesType?.typeName !== 'string') return undefined;
      return mapStep();
    }
    default:
      return undefined;
  }
}

/** Entries a map may have for the bytewise path; a larger map is rebuilt as an object (the keys are compared pairwise). */
const MAX_BYTEWISE_ENTRIES = 64;

/**
 * A map<string> field (extras) as rows.ts quotes the object avsc decodes: `{'key':'value',...}`.
 * Most maps are written straight from their bytes. The object's own rules decide where that would differ, and then
 * the map is rebuilt as an object and quoted by rows.ts: a key that starts with a digit (integer-like keys come first
 * in an object), `__proto__`, a key with non-ASCII bytes, a key given twice (the object keeps one, at its first
 * place, with the last value), or more than MAX_BYTEWISE_ENTRIES entries.
 */
function mapStep(): Step {
  const spans = new Int32Array(4 * MAX_BYTEWISE_ENTRIES);
  return (s, w) => {
    const from = s.pos;
    let count = 0;
    let bytewise = true;
    for (let n = readBlockCount(s); n > 0; n = readBlockCount(s)) {
      for (let i = 0; i < n; i++) {
        const k = readStringSpan(s);
        const kEnd = s.pos;
        const v = readStringSpan(s);
        if (!bytewise) continue;
        if (count === MAX_BYTEWISE_ENTRIES || !plainKey(s.buf, k, kEnd) || keySeen(s.buf, spans, count, k, kEnd)) {
          bytewise = false;
          continue;
        }
        const at = 4 * count++;
        spans[at] = k;
        spans[at + 1] = kEnd;
        spans[at + 2] = v;
        spans[at + 3] = s.pos;
      }
    }
    if (!bytewise) {
      const end = s.pos;
      s.pos = from;
      w.text(quotedValue(mapObject(s)));
      s.pos = end;
      return;
    }
    w.byte(0x7b); // {
    for (let i = 0; i < count; i++) {
      if (i > 0) w.byte(0x2c);
      writeQuoted(w, s.buf, spans[4 * i]!, spans[4 * i + 1]!);
      w.byte(0x3a);
      writeQuoted(w, s.buf, spans[4 * i + 2]!, spans[4 * i + 3]!);
    }
    w.byte(0x7d);
  };
}

/** The map as avsc decodes it: a JS object, in its key order, a repeated key's last value. */
function mapObject(s: Source): Record<string, string> {
  const map: Record<string, string> = {};
  for (let n = readBlockCount(s); n > 0; n = readBlockCount(s)) {
    for (let i = 0; i < n; i++) {
      const k = readStringSpan(s);
      const key = s.buf.toString('utf8', k, s.pos);
      const v = readStringSpan(s);
      map[key] = s.buf.toString('utf8', v, s.pos);
    }
  }
  return map;
}

const PROTO_KEY = Buffer.from('__proto__');

/** A key an object keeps in insertion order, as it is: ASCII, not starting with a digit, not `__proto__`. */
function plainKey(buf: Buffer, start: number, end: number): boolean {
  if (end > start && buf[start]! >= 0x30 && buf[start]! <= 0x39) return false;
  for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return false;
  return !(end - start === PROTO_KEY.length && buf.compare(PROTO_KEY, 0, PROTO_KEY.length, start, end) === 0);
}

/** Whether bytes [start, end) equal one of the first `count` keys in `spans`. */
function keySeen(buf: Buffer, spans: Int32Array, count: number, start: number, end: number): boolean {
  const len = end - start;
  for (let i = 0; i < count; i++) {
    const k = spans[4 * i]!;
    if (spans[4 * i + 1]! - k !== len) continue;
    let j = 0;
    while (j < len && buf[k + j] === buf[start + j]) j++;
    if (j === len) return true;
  }
  return false;
}

/** Items in the next block of an array or map (0 ends it); a negative count is followed by the block's size. */
function readBlockCount(s: Source): number {
  let n = readLong(s);
  if (n < 0) {
    n = -n;
    readLong(s);
  }
  // Every item takes at least a byte: a larger count is a lie for the slow path to reject.
  if (n > s.end - s.pos) throw HAND_BACK;
  return n;
}

/**
 * Columns of a top-level nullable record: `<field>_<sub>`, and what each holds when the record is null (rows.ts
 * cdrValues: `caller?.type ?? 'UNKNOWN'`, `caller?.value ?? null`, ...).
 */
const NULL_RECORD_COLUMNS: Record<string, Record<string, string>> = {
  caller: { type: 'UNKNOWN', value: '\\N', e164: 'false', hashed: 'false', location: '\\N' },
};

/** What rows.ts appends after the record's own fields: where the sink read it, and the row's version. */
const POSITION_COLUMNS = ['source_topic', 'source_partition', 'source_offset', 'version'];

export class TsvTranscoder {
  private topic = '';
  private topicBytes: Buffer = Buffer.alloc(0);

  private constructor(private readonly steps: Step[]) {}

  /** The plan for `reader` (the sink's reader schema), or undefined when its columns are not CDR_COLUMNS. */
  static compile(reader: avro.Type): TsvTranscoder | undefined {
    const shape = reader as unknown as TypeShape;
    if (shape.typeName !== 'record') return undefined;
    const columns: string[] = [];
    const steps: Step[] = [];
    let noted = 0;
    for (const field of shape.fields ?? []) {
      const n = nullable(field.type);
      const defaults = NULL_RECORD_COLUMNS[field.name];
      if (n && n.other.typeName === 'record' && defaults) {
        const subs = n.other.fields ?? [];
        const subSteps = subs.map((f) => valueStep(f.type, 'tsv'));
        if (subSteps.some((x) => x === undefined) || subs.some((f) => defaults[f.name] === undefined)) return undefined;
        const nullLine = subs.map((f) => defaults[f.name]!).join('\t');
        columns.push(...subs.map((f) => `${field.name}_${f.name}`));
        steps.push((s, w, row) => {
          const index = readLong(s);
          if (index === n.nullIndex) return w.ascii(nullLine);
          if (index !== 1 - n.nullIndex) throw HAND_BACK;
          for (let i = 0; i < subSteps.length; i++) {
            if (i > 0) w.byte(0x09);
            subSteps[i]!(s, w, row);
          }
        });
        continue;
      }
      const step = valueStep(field.type, 'tsv');
      if (!step) return undefined;
      columns.push(field.name);
      const noting = noteFacts(field.name, field.type, step);
      if (noting !== step) noted++;
      steps.push(noting);
    }
    // Every fact is read, or none of the rows may take this path: an unread fact would read as its empty start value.
    if (noted !== FACT_FIELDS) return undefined;
    columns.push(...POSITION_COLUMNS);
    if (columns.length !== CDR_COLUMNS.length || columns.some((c, i) => c !== CDR_COLUMNS[i])) return undefined;
    return new TsvTranscoder(steps);
  }

  /**
   * Appends the row's line for the Avro body in `value` from `bodyStart` on (5: after the registry frame) and returns
   * its facts; or returns undefined with `w` as it was, for the slow path.
   */
  transcode(value: Buffer, bodyStart: number, at: SourcePosition, w: LineWriter): RowFacts | undefined {
    const start = w.pos;
    const s: Source = { buf: value, pos: bodyStart, end: value.length };
    const row: RowFacts = { vendor: '', cdr_id: '', received_at: Number.NaN, talk_seconds: 0, billable_seconds: 0, billable_minutes: 0, answered: false };
    try {
      for (let i = 0; i < this.steps.length; i++) {
        if (i > 0) w.byte(0x09);
        this.steps[i]!(s, w, row);
      }
      // avsc refuses trailing bytes; so does the fast path.
      if (s.pos !== s.end || Number.isNaN(row.received_at)) throw HAND_BACK;
    } catch (err) {
      if (err !== HAND_BACK) throw err;
      w.pos = start;
      return undefined;
    }
    w.byte(0x09);
    this.writeTopic(w, at.topic);
    w.byte(0x09);
    w.integer(at.partition);
    w.byte(0x09);
    w.integer(at.offset);
    w.byte(0x09);
    w.integer(row.received_at);
    w.byte(0x0a);
    return row;
  }

  private writeTopic(w: LineWriter, topic: string): void {
    if (topic !== this.topic) {
      const raw = Buffer.from(topic);
      const escaped = new LineWriter(2 * raw.length + 1);
      writeEscaped(escaped, raw, 0, raw.length, TSV_BYTE_ESCAPES);
      this.topic = topic;
      this.topicBytes = escaped.buf.subarray(0, escaped.pos);
    }
    w.ensure(this.topicBytes.length);
    this.topicBytes.copy(w.buf, w.pos);
    w.pos += this.topicBytes.length;
  }
}

/** The fields noteFacts reads: vendor, cdr_id, received_at, the three durations, end_status and answered_at. */
const FACT_FIELDS = 8;

/** The fields the sink keeps besides the line: noted while they are written. */
function noteFacts(name: string, type: TypeShape, step: Step): Step {
  if ((name === 'cdr_id' || name === 'vendor') && type.typeName === 'string') {
    return (s, w, row) => {
      const from = s.pos;
      step(s, w, row);
      // Re-read the span just written: the length prefix, then the bytes.
      const again: Source = { buf: s.buf, pos: from, end: s.end };
      const start = readStringSpan(again);
      row[name] = s.buf.toString('utf8', start, again.pos);
    };
  }
  if ((name === 'talk_seconds' || name === 'billable_seconds' || name === 'billable_minutes') && type.typeName === 'int') {
    return (s, w, row) => {
      const from = s.pos;
      step(s, w, row);
      row[name] = readLong({ buf: s.buf, pos: from, end: s.end });
    };
  }
  // Either one allows billable seconds (the table's unanswered_bills_nothing): an ANSWERED end, or an answer time.
  if (name === 'end_status' && type.typeName === 'enum' && type.symbols?.includes('ANSWERED')) {
    const answered = type.symbols.indexOf('ANSWERED');
    return (s, w, row) => {
      const from = s.pos;
      step(s, w, row);
      if (readLong({ buf: s.buf, pos: from, end: s.end }) === answered) row.answered = true;
    };
  }
  if (name === 'answered_at' && type.typeName === 'union:unwrapped' && type.types?.[0]?.typeName === 'null') {
    return (s, w, row) => {
      const from = s.pos;
      step(s, w, row);
      if (readLong({ buf: s.buf, pos: from, end: s.end }) !== 0) row.answered = true;
    };
  }
  if (name === 'received_at' && type.typeName === 'logical:timestamp-millis') {
    return (s, w, row) => {
      const ms = readLong(s);
      writeChTime(w, ms);
      row.received_at = ms;
    };
  }
  return step;
}
