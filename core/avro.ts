// Avro through a Confluent-compatible schema registry (Confluent wire format: magic byte 0 + 4-byte schema id).
// Schemas live in schemas/*.avsc and are registered under TopicNameStrategy subjects (`<topic>-value`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { schemaRegistryUrl } from './local-endpoints.ts';
import { CdrflowError } from './errors.ts';
import { subjectFor } from './topology.ts';

const SCHEMA_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** The schema file's text, parsed (still plain JSON, usable by avsc and by the registry). */
export function loadSchemaJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + file, 'utf8')) as Record<string, unknown>;
}

/** A local avsc Type for a schema file (no registry): used by pure code and tests to validate records. */
export function avroType(file: string): avro.Type {
  return avro.Type.forSchema(loadSchemaJson(file) as avro.Schema, { logicalTypes: {} });
}

export function createRegistry(url: string = schemaRegistryUrl()): SchemaRegistry {
  return new SchemaRegistry({ host: url });
}

/**
 * Encodes/decodes one topic's values under the registry id registered for that topic's subject.
 * `register()` is idempotent (the registry returns the existing id for an identical schema).
 */
export class TopicCodec {
  private schemaId: number | undefined;

  constructor(
    private readonly registry: SchemaRegistry,
    readonly topic: string,
    private readonly schemaFile: string,
  ) {}

  async register(): Promise<number> {
    if (this.schemaId !== undefined) return this.schemaId;
    try {
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(loadSchemaJson(this.schemaFile)) },
        { subject: subjectFor(this.topic) },
      );
      this.schemaId = id;
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
