// A downstream service subscribing to cdr.normalized: a consumer group of its own, read_committed (sees only what
// normalize committed), Avro values decoded through the schema registry (Confluent wire format: the schema id is in
// each message, so records written under older or newer compatible versions decode too).
//
//   node bin/run-ts.mjs examples/subscriber.ts [--group my-service] [--from-beginning] [--max N]
//
// Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (default: the local stack of `cdrflow infra up`).
// This example uses kafkajs and @kafkajs/confluent-schema-registry directly, as an outside service would; any
// Confluent-compatible client in any language works the same way.
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
      const cdr = (await registry.decode(message.value)) as Cdr;
      const started = cdr.started_at === null ? '-' : new Date(Number(cdr.started_at)).toISOString();
      console.log(
        [`p${partition}@${message.offset}`, cdr.cdr_id, started, cdr.end_status, `${cdr.talk_seconds}s`, `${cdr.billable_minutes}min(${cdr.billing_rule})`, cdr.skill_group_name ?? ''].join('  '),
      );
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
