// A downstream service subscribing to cdr.normalized: a consumer group of its own, read_committed (sees only what
// normalize committed), Avro values decoded through the schema registry (Confluent wire format: the schema id is in
// each message, so records written under older or newer compatible versions decode too).
//
//   node bin/run-ts.mjs examples/subscriber.ts [--topic cdr.normalized|cdr.dlq] [--group my-service] [--from-beginning] [--max N]
//
// Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (default: the local stack of `cdrflow infra up`).
// This example uses kafkajs and @kafkajs/confluent-schema-registry directly, as an outside service would; any
// Confluent-compatible client in any language works the same way.
// kafkajs 2.2.4's read_committed passes records of aborted transactions when two transactions on a partition abort in
// the opposite order to the one they began in (two normalize members restarting do that); the one-file correction
// below, imported before kafkajs, fixes it (a service on kafkajs copies the file; Java's and librdkafka's consumers
// are not affected). kafkajs reads only gzip batches; core/compression/ registers Snappy, LZ4 and ZSTD readers, for
// a topic whose batches a producer or the broker (`compression.type`) compressed so.
import '../core/kafkajs-setup.ts';
import { unreadableLine } from '../core/kafkajs-unreadable-batch.ts';
import '../core/compression/index.ts';
import { Kafka, logLevel } from 'kafkajs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const topic = option('--topic') ?? 'cdr.normalized';
const groupId = option('--group') ?? 'example.cdr-subscriber';
const max = option('--max') === undefined ? Infinity : Number(option('--max'));
const portBase = Number(process.env['CDRFLOW_PORT_BASE'] || 19000);
const brokers = (process.env['KAFKA_BROKERS'] || `127.0.0.1:${portBase + 92}`).split(',');
const registryUrl = process.env['SCHEMA_REGISTRY_URL'] || `http://127.0.0.1:${portBase + 81}/apis/ccompat/v7`;

/** The fields a billing or contact-center service typically reads; the record has many more (see schemas/cdr-normalized.avsc). */
interface Cdr {
  cdr_id: string;
  vendor: string;
  tenant_id: string;
  end_status: string;
  started_at: number | null; // timestamp-millis: a plain long without a logical-type hook
  talk_seconds: number;
  billable_minutes: number;
  billing_rule: string;
  skill_group_name: string | null;
}

/** A dead letter (cdr.dlq): why a record could not be processed, and where it came from. */
interface DeadLetter {
  error_kind: string;
  error_message: string;
  component: string;
  vendor: string | null;
  cdr_id: string | null;
  origin_topic: string;
  origin_partition: number;
  origin_offset: number;
}

/** timestamp-millis arrives as a number (or a Date with a logical-type hook); anything else prints as "-". */
function iso(value: unknown): string {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' || typeof value === 'bigint' ? Number(value) : NaN;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

/**
 * A vendor's text on a terminal line: control characters (ESC, CR, DEL, C1) and bidi overrides as \u escapes, so a
 * record cannot clear the screen or reorder the line it is printed on.
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One line per record: a CDR's billing fields, or a dead letter's reason first. */
function describe(record: Cdr | DeadLetter): string[] {
  if ('error_kind' in record) {
    const r = record;
    return [r.error_kind, r.component, r.vendor ?? '-', r.cdr_id ?? '-', `${r.origin_topic}[${r.origin_partition}]@${r.origin_offset}`, r.error_message];
  }
  const cdr = record;
  return [cdr.cdr_id, iso(cdr.started_at), cdr.end_status, `${cdr.talk_seconds}s`, `${cdr.billable_minutes}min(${cdr.billing_rule})`, cdr.skill_group_name ?? ''];
}

const kafka = new Kafka({ clientId: 'cdr-subscriber-example', brokers, logLevel: logLevel.WARN });
const registry = new SchemaRegistry({ host: registryUrl });
// readUncommitted: false = read_committed: records of aborted normalize transactions are never seen.
const consumer = kafka.consumer({ groupId, readUncommitted: false });

let seen = 0;
await consumer.connect();
await consumer.subscribe({ topics: [topic], fromBeginning: flag('--from-beginning') });
const finished = new Promise<void>((resolve) => {
  void consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (message.value === null) return;
      // A record batch that could not be read (a compression bomb) reaches a consumer as one marked record.
      const unreadable = unreadableLine(message);
      if (unreadable !== undefined) return void console.log(`p${partition}@${message.offset}  ${unreadable}`);
      // A record that cannot be decoded (not Avro, a schema id the registry does not know) is that record's problem:
      // said in one line and passed over. Thrown, kafkajs would deliver it again and again, and nothing after it.
      let record: Cdr | DeadLetter;
      try {
        record = (await registry.decode(message.value)) as Cdr | DeadLetter;
      } catch (err) {
        console.log(`p${partition}@${message.offset}  could not be decoded: ${printable((err as Error).message)}`);
        return;
      }
      console.log([`p${partition}@${message.offset}`, ...describe(record).map(printable)].join('  '));
      if (++seen >= max) resolve();
    },
  });
});
const stop = async () => {
  await consumer.disconnect();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
await finished;
await stop();
