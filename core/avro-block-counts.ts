// Avro arrays and maps are written as blocks: a count, then that many items. avsc (5.7.9) believes the count and
// reads that many items even when the bytes ran out long before, and only then says "truncated buffer". So one
// record of 40 bytes on a raw topic whose `attributes` count says 2^30 kept a thread on a core for 13 s, and a count
// of 2^62 would keep it there for good: normalize's worker, the sink's render thread or `cdrflow tail`, each of
// which cannot be stopped from outside while it decodes. Kafka records are input like any other.
//
// Every item takes at least a known number of bytes (a string its length, a record the sum of its fields), so a
// count larger than the bytes left can only be a lie. The readers below are avsc's array and map readers with that
// check: the record is refused as truncated at once, and the caller dead-letters it as for any other bad body.
// Installed once per thread when core/avro.ts is loaded; every avsc type and resolver of the thread uses them.
import avro from 'avsc';

/** What the readers need of avsc's Tap (lib/utils.js). */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  skipString(): void;
  _invalidate(): void;
}

/** An avsc array or map type, or a resolver reading one (it carries the reader's items and the writer's sizes). */
interface Container {
  itemsType?: { _read(tap: Tap): unknown; _skip(tap: Tap): void };
  valuesType?: { _read(tap: Tap): unknown; _skip(tap: Tap): void };
}

/**
 * The fewest bytes an item (a map entry: its key and value) takes as written, per array or map type and per resolver
 * (avsc freezes its types, so this is kept beside them).
 */
const minItemBytes = new WeakMap<Container, number>();

/** The fewest bytes a value of `type` takes in Avro binary; `seen` stops at a record that contains itself. */
export function minEncodedBytes(type: avro.Type, seen = new Set<avro.Type>()): number {
  if (avro.Type.isType(type, 'logical')) return minEncodedBytes((type as unknown as { underlyingType: avro.Type }).underlyingType, seen);
  switch (type.typeName) {
    case 'null':
      return 0;
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'fixed':
      return (type as unknown as { size: number }).size;
    case 'record':
    case 'error': {
      if (seen.has(type)) return 0;
      seen.add(type);
      const fields = (type as unknown as { fields: { type: avro.Type }[] }).fields;
      const sum = fields.reduce((n, field) => n + minEncodedBytes(field.type, seen), 0);
      seen.delete(type);
      return sum;
    }
    default:
      // boolean, int, long, string, bytes, enum, a union's branch index, an array's or a map's closing 0: one byte.
      return 1;
  }
}

/**
 * The next block's item count (0 at the end), or 0 with the tap invalidated when the count cannot fit in the bytes
 * left. A negative count is followed by the block's size in bytes (avsc reads past it, as here).
 */
function blockCount(tap: Tap, minItemBytes: number): number {
  let n = tap.readLong();
  if (n < 0) {
    n = -n;
    tap.skipLong();
  }
  if (n > 0 && minItemBytes > 0 && n * minItemBytes > tap.buf.length - tap.pos) {
    tap._invalidate();
    return 0;
  }
  return n;
}

const ArrayType = avro.types.ArrayType.prototype as unknown as Container & Record<string, unknown>;
const MapType = avro.types.MapType.prototype as unknown as Container & Record<string, unknown>;

/** A type's own sizes, found on first use; a resolver's were noted when it was built (_update below). */
function itemBytes(self: Container, ofItem: () => number): number {
  let n = minItemBytes.get(self);
  if (n === undefined) minItemBytes.set(self, (n = ofItem()));
  return n;
}
const arrayItemBytes = (self: Container) => itemBytes(self, () => minEncodedBytes((self as unknown as { itemsType: avro.Type }).itemsType));
const mapEntryBytes = (self: Container) => itemBytes(self, () => 1 + minEncodedBytes((self as unknown as { valuesType: avro.Type }).valuesType));

let installed = false;

/** Replaces avsc's array and map readers (and skippers) with the bounded ones, once per thread. */
export function installBlockCountBounds(): void {
  if (installed) return;
  installed = true;

  ArrayType['_read'] = function (this: Container, tap: Tap): unknown[] {
    const items = this.itemsType!;
    const min = arrayItemBytes(this);
    let val: unknown[] | undefined;
    let i = 0;
    let n: number;
    while ((n = blockCount(tap, min))) {
      val ??= new Array<unknown>(n);
      while (n--) val[i++] = items._read(tap);
    }
    return val ?? [];
  };
  ArrayType['_skip'] = function (this: Container, tap: Tap): void {
    const items = this.itemsType!;
    const min = arrayItemBytes(this);
    let n: number;
    while ((n = blockCount(tap, min))) while (n--) items._skip(tap);
  };
  MapType['_read'] = function (this: Container, tap: Tap): Record<string, unknown> {
    const values = this.valuesType!;
    const min = mapEntryBytes(this);
    const val: Record<string, unknown> = {};
    let n: number;
    while ((n = blockCount(tap, min))) {
      while (n--) {
        const key = tap.readString();
        val[key] = values._read(tap);
      }
    }
    return val;
  };
  MapType['_skip'] = function (this: Container, tap: Tap): void {
    const values = this.valuesType!;
    const min = mapEntryBytes(this);
    let n: number;
    while ((n = blockCount(tap, min))) {
      while (n--) {
        tap.skipString();
        values._skip(tap);
      }
    }
  };

  // A resolver reads what the WRITER wrote: its sizes are the writer's items', not the reader's.
  const arrayUpdate = ArrayType['_update'] as (this: Container, rsv: Container, writer: avro.Type, opts: unknown) => void;
  ArrayType['_update'] = function (this: Container, rsv: Container, writer: avro.Type, opts: unknown): void {
    arrayUpdate.call(this, rsv, writer, opts);
    if (writer.typeName === 'array') minItemBytes.set(rsv, minEncodedBytes((writer as unknown as { itemsType: avro.Type }).itemsType));
  };
  const mapUpdate = MapType['_update'] as (this: Container, rsv: Container, writer: avro.Type, opts: unknown) => void;
  MapType['_update'] = function (this: Container, rsv: Container, writer: avro.Type, opts: unknown): void {
    mapUpdate.call(this, rsv, writer, opts);
    if (writer.typeName === 'map') minItemBytes.set(rsv, 1 + minEncodedBytes((writer as unknown as { valuesType: avro.Type }).valuesType));
  };
}
