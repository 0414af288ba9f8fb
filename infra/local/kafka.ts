// A real single-node Apache Kafka (KRaft, combined broker + controller) on loopback, run from the Maven Central
// jars: storage formatted once per stack, started as `java -cp libs/* kafka.Kafka server.properties`, readiness
// proven by a metadata request through the project's own Kafka client.
import type { LocalPorts } from '../../core/local-endpoints.ts';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { coordinatorsReady, describeCluster } from '../../core/kafka.ts';
import { findJava } from './java.ts';
import { kafkaLibsDir } from './paths.ts';
import type { StackPaths } from './paths.ts';
import { StopPolling, assertPortsFree, logExcerpt, ownedPid, pollUntil, run, spawnDetached } from './processes.ts';
import { processAlive } from '../../core/process-identity.ts';

export const KAFKA_MAIN_CLASS = 'kafka.Kafka';
const MIN_JAVA = 17;

export type KafkaPorts = Pick<LocalPorts, 'kafkaPort' | 'kafkaControllerPort'>;

export function kafkaServerProperties(paths: StackPaths, ports: KafkaPorts): string {
  return [
    '# Written by `cdrflow infra up`; regenerated on every start.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${ports.kafkaControllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${ports.kafkaPort},CONTROLLER://127.0.0.1:${ports.kafkaControllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${ports.kafkaPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${paths.kafkaData}`,
    'num.partitions=3',
    // One broker: every internal topic must live with replication factor 1 or transactions and groups never work.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Tests create and join many short-lived groups; the default 3 s rebalance delay would dominate their runtime.
    'group.initial.rebalance.delay.ms=0',
    // Topics are created explicitly (core/kafka.ts ensureTopics) so a typo in a topic name fails instead of
    // silently creating a 1-partition topic with default settings.
    'auto.create.topics.enable=false',
    '',
  ].join('\n');
}

// Kafka 4 ships log4j2, but the slf4j binding in infra/kafka/pom.xml is reload4j (log4j 1 API). Both get a config
// that writes to stdout (which goes to the log file) so neither prints "no configuration found" noise.
const LOG4J1 = [
  'log4j.rootLogger=INFO, stdout',
  'log4j.logger.kafka.request.logger=WARN',
  'log4j.logger.state.change.logger=WARN',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  '',
].join('\n');
const LOG4J2 = [
  'status = warn',
  'appender.out.type = Console',
  'appender.out.name = out',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = info',
  'rootLogger.appenderRef.out.ref = out',
  '',
].join('\n');

function writeConfigs(paths: StackPaths, ports: KafkaPorts): { props: string; log4j1: string; log4j2: string } {
  mkdirSync(paths.kafkaConfig, { recursive: true });
  const props = kafkaPropertiesFile(paths);
  const log4j1 = join(paths.kafkaConfig, 'log4j.properties');
  const log4j2 = join(paths.kafkaConfig, 'log4j2.properties');
  writeFileSync(props, kafkaServerProperties(paths, ports));
  writeFileSync(log4j1, LOG4J1);
  writeFileSync(log4j2, LOG4J2);
  return { props, log4j1, log4j2 };
}

function jvmLogArgs(files: { log4j1: string; log4j2: string }): string[] {
  return [`-Dlog4j.configuration=file:${files.log4j1}`, `-Dlog4j2.configurationFile=${files.log4j2}`];
}

function kafkaPropertiesFile(paths: StackPaths): string {
  return join(paths.kafkaConfig, 'server.properties');
}

/** The broker of this stack: its main class alone would also match another stack's broker that was given a reused PID. */
export function kafkaRunning(paths: StackPaths): number | undefined {
  return ownedPid(paths.kafkaPid, KAFKA_MAIN_CLASS, kafkaPropertiesFile(paths));
}

/** Asks the broker for cluster metadata; resolves with the broker count and cluster id, throws when unreachable. */
export async function kafkaMetadata(port: number): Promise<{ brokers: number; clusterId: string; controller: number | null }> {
  return describeCluster([`127.0.0.1:${port}`]);
}

export async function startKafka(
  paths: StackPaths,
  ports: KafkaPorts,
  log: (msg: string) => void,
): Promise<{ pid: number; started: boolean }> {
  const existing = kafkaRunning(paths);
  if (existing !== undefined) return { pid: existing, started: false };
  await assertPortsFree([ports.kafkaPort, ports.kafkaControllerPort]);
  const java = await findJava(MIN_JAVA, 'CDRFLOW_KAFKA_JAVA', 'Apache Kafka 4.x');
  const files = writeConfigs(paths, ports);
  const classpath = `${kafkaLibsDir()}/*`;
  if (!existsSync(join(paths.kafkaData, 'meta.properties'))) {
    mkdirSync(paths.kafkaData, { recursive: true });
    const { stdout: uuid } = await run(java.path, [
      '-cp',
      classpath,
      ...jvmLogArgs(files),
      'kafka.tools.StorageTool',
      'random-uuid',
    ]);
    const clusterId = uuid.trim().split('\n').pop() ?? '';
    log(`formatting Kafka storage in ${paths.kafkaData} (cluster id ${clusterId})`);
    await run(java.path, [
      '-cp',
      classpath,
      ...jvmLogArgs(files),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      files.props,
    ]);
  }
  const pid = spawnDetached({
    command: java.path,
    args: [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      ...jvmLogArgs(files),
      '-cp',
      classpath,
      KAFKA_MAIN_CLASS,
      files.props,
    ],
    cwd: paths.root,
    logFile: paths.kafkaLog,
    pidFile: paths.kafkaPid,
  });
  log(`started Kafka (Java ${java.version}) PID ${pid}, log ${paths.kafkaLog}`);
  return { pid, started: true };
}

export async function awaitKafkaReady(paths: StackPaths, pid: number, port: number, timeoutMs = 90_000): Promise<void> {
  await pollUntil(
    async () => {
      if (!processAlive(pid))
        throw new StopPolling(`Kafka (PID ${pid}) exited during startup:\n${logExcerpt(paths.kafkaLog)}`);
      const meta = await kafkaMetadata(port);
      // Ready means a stage can start: a group and a transaction can be coordinated, not only metadata answered.
      return meta.brokers >= 1 && meta.controller !== null && (await coordinatorsReady([`127.0.0.1:${port}`]));
    },
    {
      timeoutMs,
      intervalMs: 300,
      message: `Kafka on 127.0.0.1:${port} to answer a metadata request and coordinate groups and transactions (log: ${paths.kafkaLog})`,
    },
  );
}
