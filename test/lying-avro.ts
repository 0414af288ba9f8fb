// Avro bodies that lie about an array's or a map's item count: what a hostile or broken writer could put on a topic.
import avro from 'avsc';

/**
 * The body of `record` under `type` up to its array or map `field`, whose block then says `count` items (a negative
 * count: that many, with a block size after it) and is followed by `padding` bytes of nothing in particular.
 */
export function lyingBlockCount(type: avro.Type, record: Record<string, unknown>, field: string, count: number, padding = 8): Buffer {
  const fields = (type as unknown as { fields: { name: string; type: avro.Type }[] }).fields;
  const at = fields.findIndex((f) => f.name === field);
  if (at < 0) throw new Error(`no field ${field}`);
  const long = avro.Type.forSchema('long');
  const block = count < 0 ? [long.toBuffer(count), long.toBuffer(padding)] : [long.toBuffer(count)];
  return Buffer.concat([...fields.slice(0, at).map((f) => f.type.toBuffer(record[f.name])), ...block, Buffer.alloc(padding, 2)]);
}
