// The integration tests run against real servers: a broker that answers metadata, a registry that reports healthy,
// and (locally) the JVMs this project started. Also proves that processes spawned by tests find the same servers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { endpoints, loadAppConfig } from '../../app/config.ts';
import { processCommandLine } from '../../infra/local/processes.ts';
import { processAlive } from '../../core/process-identity.ts';
import { testInfra, testKafka } from '../helpers.ts';

const run = promisify(execFile);

describe('test servers', () => {
  it('Kafka answers a metadata request with a live broker and controller', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.length).toBeGreaterThanOrEqual(1);
      expect(cluster.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(cluster.controller).not.toBeNull();
      const broker = cluster.brokers[0];
      expect(testInfra().kafkaBrokers).toContain(`${broker?.host}:${broker?.port}`);
    } finally {
      await admin.disconnect();
    }
  });

  it('the registry reports healthy', async () => {
    const res = await fetch(testInfra().registryHealthUrl);
    expect(res.status).toBe(200);
    if (testInfra().mode === 'local') expect(((await res.json()) as { status: string }).status).toBe('UP');
  });

  it.runIf(testInfra().mode === 'local')(
    'locally, the servers are the kafka.Kafka and Apicurio JVMs this project started',
    () => {
      const { kafkaPid, registryPid } = testInfra();
      expect(kafkaPid).not.toBeNull();
      expect(registryPid).not.toBeNull();
      expect(processAlive(kafkaPid ?? -1)).toBe(true);
      expect(processAlive(registryPid ?? -1)).toBe(true);
      const kafkaCmd = processCommandLine(kafkaPid ?? -1) ?? '';
      expect(kafkaCmd).toMatch(/\bjava\b/);
      expect(kafkaCmd).toContain(' kafka.Kafka ');
      expect(processCommandLine(registryPid ?? -1)).toContain('quarkus-run.jar');
    },
  );

  it('worker env and child processes resolve the same endpoints', async () => {
    // The one config loader reads the environment the global setup exported.
    const ends = endpoints(loadAppConfig());
    expect(ends.kafka.brokers).toEqual(testInfra().kafkaBrokers);
    expect(ends.registryUrl).toBe(testInfra().schemaRegistryUrl);
    const { stdout } = await run(process.execPath, [
      '-e',
      'console.log(JSON.stringify([process.env.KAFKA_BROKERS, process.env.SCHEMA_REGISTRY_URL]))',
    ]);
    expect(JSON.parse(stdout)).toEqual([testInfra().kafkaBrokers.join(','), testInfra().schemaRegistryUrl]);
  });
});
