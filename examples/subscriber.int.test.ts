// The example subscriber the README shows, run as a user runs it (a child process, plain kafkajs and the registry
// client) against the test stack: it prints every CDR of a topic, and a record it cannot decode (not Avro, or a schema
// id the registry does not know) is one line saying so, not the end of the subscriber.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../core/repo-root.ts';
import { TopicCodec } from '../core/avro.ts';
import { AckedPublisher, ensureTopics } from '../core/kafka.ts';
import { SCHEMA_FILES } from '../core/topology.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import { testInfra, testKafka, testRegistry, uniqueName } from '../test/helpers.ts';

function runSubscriber(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const infra = testInfra();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/run-ts.mjs'), join(REPO_ROOT, 'examples/subscriber.ts'), ...args], {
    env: { ...process.env, KAFKA_BROKERS: infra.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: infra.schemaRegistryUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Bounded: a subscriber that stopped printing is killed and the test fails on what it printed by then.
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr }))));
}

it('prints every CDR of the topic (vendor text escaped), and one line for each record it cannot decode, then goes on', async () => {
  const kafka = testKafka();
  const topic = uniqueName('example_sub');
  // One partition: the lines come in the order written.
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const codec = new TopicCodec(testRegistry(), topic, SCHEMA_FILES.normalized);
  // The third carries a vendor's text that would clear the terminal if printed as it is.
  const cdrs = [sampleCdr(1), sampleCdr(2), sampleCdr(3, { skill_group_name: 'Billing\u001b[2J\u202eEN' })];
  const publisher = new AckedPublisher(kafka);
  try {
    await publisher.send(topic, [
      { key: cdrs[0]!.cdr_id, value: await codec.encode(cdrs[0]) },
      // Not Avro at all, then the Confluent framing with a schema id no registry has.
      { key: 'garbage', value: Buffer.from('{"not":"avro"}') },
      { key: 'unknown-id', value: Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('x')]) },
      { key: cdrs[1]!.cdr_id, value: await codec.encode(cdrs[1]) },
      { key: cdrs[2]!.cdr_id, value: await codec.encode(cdrs[2]) },
    ]);
  } finally {
    await publisher.disconnect();
  }
  const run = await runSubscriber(['--topic', topic, '--group', uniqueName('example_group'), '--from-beginning', '--max', '3']);
  expect(run.code, run.stderr.slice(0, 2000)).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines.map((l) => l.split('  ')[0])).toEqual(['p0@0', 'p0@1', 'p0@2', 'p0@3', 'p0@4']);
  expect(lines[0]).toContain(cdrs[0]!.cdr_id);
  expect(lines[1]).toMatch(/could not be decoded/);
  expect(lines[2]).toMatch(/could not be decoded/);
  expect(lines[3]).toContain(cdrs[1]!.cdr_id);
  expect(lines[4]).toContain(cdrs[2]!.cdr_id);
  expect(lines[4]).toContain('Billing\\u001b[2J\\u202eEN');
  // eslint-disable-next-line no-control-regex
  expect(run.stdout).not.toMatch(/[\u001b\u202e]/);
});
