// Avro through a Confluent-compatible schema registry (Confluent wire format: magic byte 0 + 4-byte schema id).
// Schemas live in schemas/*.avsc and are registered under TopicNameStrategy subjects (`<topic>-value`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { CdrflowError } from './errors.ts';
import { subjectFor } from './topology.ts';

/** The registry client; the rest of the project reaches the registry only through this module. */
export type { SchemaRegistry };

const SCHEMA_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** The schema file's text, parsed (still plain JSON, usable by avsc and by the registry). */
export function loadSchemaJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + file, 'utf8')) as Record<string, unknown>;
}

/**
 * `timestamp-millis` as a JS Date in both directions, so records carry real instants (and JSON.stringify prints
 * ISO-8601 UTC strings ending in Z). Without it avsc would hand out bare longs.
 */
class TimestampMillis extends avro.types.LogicalType {
  override _fromValue(value: unknown): Date {
    return new Date(value as number);
  }
  override _toValue(value: unknown): number | undefined {
    return value instanceof Date && !Number.isNaN(value.getTime()) ? value.getTime() : undefined;
  }
  override _resolve(type: avro.Type): ((value: unknown) => Date) | undefined {
    if (avro.Type.isType(type, 'long', 'logical:timestamp-millis')) return (v) => this._fromValue(v);
    return undefined;
  }
}

/**
 * avsc options used everywhere (local types and the registry client), so both agree on logical types.
 * A fresh object per call: avsc stores its name registry on the options object it is given.
 */
export function avroOptions(): Partial<avro.ForSchemaOptions> {
  return { logicalTypes: { 'timestamp-millis': TimestampMillis } } as unknown as Partial<avro.ForSchemaOptions>;
}

const localTypes = new Map<string, avro.Type>();

/** A local avsc Type for a schema file (no registry): used by pure code and tests to validate records. */
export function avroType(file: string): avro.Type {
  let type = localTypes.get(file);
  if (!type) {
    type = avro.Type.forSchema(loadSchemaJson(file) as avro.Schema, avroOptions());
    localTypes.set(file, type);
  }
  return type;
}

export function createRegistry(url: string): SchemaRegistry {
  // The registry client spreads these options into a new object for every schema it parses.
  return new SchemaRegistry({ host: url }, { [SchemaType.AVRO]: avroOptions() as never });
}

/**
 * Encodes/decodes one topic's values under the registry id registered for that topic's subject.
 * `register()` is idempotent (the registry returns the existing id for an identical schema).
 */
export class TopicCodec {
  /** The in-flight or finished registration: concurrent first writers share it (Apicurio answers 409 to a race). */
  private schemaId: Promise<number> | undefined;

  constructor(
    private readonly registry: SchemaRegistry,
    readonly topic: string,
    private readonly schemaFile: string,
  ) {}

  register(): Promise<number> {
    this.schemaId ??= this.registerOnce().catch((err: unknown) => {
      this.schemaId = undefined; // let a later call try again
      throw err;
    });
    return this.schemaId;
  }

  private async registerOnce(): Promise<number> {
    try {
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(loadSchemaJson(this.schemaFile)) },
        { subject: subjectFor(this.topic) },
      );
      return id;
    } catch (err) {
      throw new CdrflowError('schema', `could not register ${this.schemaFile} for subject ${subjectFor(this.topic)}: ${(err as Error).message}`, { cause: err });
    }
  }

  async encode(record: unknown): Promise<Buffer> {
    const id = await this.register();
    return this.registry.encode(id, record);
  }

  /** Decodes any registry-framed value (the writer schema comes from the id in the frame). */
  async decode<T>(value: Buffer): Promise<T> {
    return (await this.registry.decode(value)) as T;
  }
}
