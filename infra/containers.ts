// Test servers in containers (testcontainers), for machines with a container runtime: the same images and versions
// as docker-compose.yml. Kafka advertises a host port picked up front because a broker must advertise the address
// clients reach it by, and testcontainers' random mapping is only known after start.
import { createServer } from 'node:net';
import type { TestInfra } from './test-infra.ts';

export const IMAGES = {
  kafka: `apache/kafka:${process.env['KAFKA_VERSION'] || '4.1.2'}`,
  registry: `confluentinc/cp-schema-registry:${process.env['CP_SCHEMA_REGISTRY_VERSION'] || '7.9.0'}`,
  clickhouse: `clickhouse/clickhouse-server:${process.env['CLICKHOUSE_VERSION'] || '25.8'}`,
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startContainers(
  log: (msg: string) => void,
): Promise<{ infra: TestInfra; stop: () => Promise<void> }> {
  const { GenericContainer, Network, Wait } = await import('testcontainers');
  const network = await new Network().start();
  const stops: (() => Promise<unknown>)[] = [async () => network.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => log(`container stop failed: ${String(err)}`));
  };
  try {
    const kafkaPort = await freePort();
    log(`starting ${IMAGES.kafka}, ${IMAGES.registry}, ${IMAGES.clickhouse}`);
    const kafka = await new GenericContainer(IMAGES.kafka)
      .withNetwork(network)
      .withNetworkAliases('kafka')
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093',
        KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,INTERNAL://0.0.0.0:19092,CONTROLLER://0.0.0.0:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort},INTERNAL://kafka:19092`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start();
    stops.push(() => kafka.stop());
    const registry = await new GenericContainer(IMAGES.registry)
      .withNetwork(network)
      .withExposedPorts(8081)
      .withEnvironment({
        SCHEMA_REGISTRY_HOST_NAME: 'schema-registry',
        SCHEMA_REGISTRY_LISTENERS: 'http://0.0.0.0:8081',
        SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS: 'PLAINTEXT://kafka:19092',
        SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL: 'backward',
      })
      .withWaitStrategy(Wait.forHttp('/subjects', 8081))
      .start();
    stops.push(() => registry.stop());
    const clickhouse = await new GenericContainer(IMAGES.clickhouse)
      .withExposedPorts(8123)
      .withEnvironment({
        CLICKHOUSE_USER: 'cdrflow',
        CLICKHOUSE_PASSWORD: 'cdrflow',
        CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: '1',
      })
      .withWaitStrategy(Wait.forHttp('/ping', 8123))
      .start();
    stops.push(() => clickhouse.stop());
    const registryUrl = `http://${registry.getHost()}:${registry.getMappedPort(8081)}`;
    process.env['CLICKHOUSE_USER'] = 'cdrflow';
    process.env['CLICKHOUSE_PASSWORD'] = 'cdrflow';
    return {
      infra: {
        mode: 'containers',
        kafkaBrokers: [`127.0.0.1:${kafkaPort}`],
        schemaRegistryUrl: registryUrl,
        registryHealthUrl: `${registryUrl}/subjects`,
        clickhouseUrl: `http://${clickhouse.getHost()}:${clickhouse.getMappedPort(8123)}`,
        portBase: null,
        kafkaPid: null,
        registryPid: null,
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
