// Which of kafkajs's own log entries reach a person as warnings (kafkajsLogLevel), on entries shaped as kafkajs 2.2.4
// writes them (the protocol errors' texts taken from kafkajs's own table; the connection failures recorded from a
// client refused on a closed loopback port); and the short, silent reachability check of the one-shot commands.
// Before kafkajs itself: its read_committed correction must be in place when kafkajs loads.
import './kafkajs-setup.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../test/main-job/cli.ts';
import { KafkaUnreachableError, createKafka, ensureKafkaReachable, kafkaUnreachable, kafkajsLogCreator, kafkajsLogLevel, routineKafkaType, type KafkajsLogEntry } from './kafka.ts';
import { LINES_LOGGED_PER_SECOND } from './log-limit.ts';
import { configureLogging, memoryLog, type LogLevel } from './log.ts';

const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error & { type: string } };
/** A protocol error's message as kafkajs words it, by its Kafka error code. */
const text = (code: number) => createErrorFromCode(code).message;
const CONCURRENT_TRANSACTIONS = 51;
const REBALANCE_IN_PROGRESS = 27;
const TOPIC_AUTHORIZATION_FAILED = 29;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;

/** An entry as kafkajs's logger hands it over (kafkajs/src/loggers/index.js): the call's fields under `log`. */
function entry(namespace: string, level: number, message: string, fields: Record<string, unknown> = {}): KafkajsLogEntry {
  return { namespace, level, log: { timestamp: '2026-12-05T00:00:00.000Z', logger: 'kafkajs', message, ...fields } };
}
/** kafkajs/src/network/connection.js: a broker's error answer. */
const response = (api: string, code: number) =>
  entry('Connection', logLevel.ERROR, `Response ${api}`, { broker: '127.0.0.1:9092', clientId: 'cdrflow', error: text(code), correlationId: 7, size: 18 });
/** kafkajs/src/producer/sendMessages.js: a send it retries. */
const sendRetry = (code: number) => entry('Producer', logLevel.ERROR, `Failed to send messages: ${text(code)}`, { retryCount: 0, retryTime: 20 });

describe('kafkajsLogLevel', () => {
  it('finds both routine types in kafkajs\'s table (a kafkajs that renamed one fails here, not silently)', () => {
    expect(createErrorFromCode(CONCURRENT_TRANSACTIONS).type).toBe('CONCURRENT_TRANSACTIONS');
    expect(createErrorFromCode(REBALANCE_IN_PROGRESS).type).toBe('REBALANCE_IN_PROGRESS');
    expect(routineKafkaType({ message: 'Response AddPartitionsToTxn(key: 24, version: 1)', error: text(CONCURRENT_TRANSACTIONS) })).toBe('CONCURRENT_TRANSACTIONS');
    expect(routineKafkaType({ message: 'Response Heartbeat(key: 12, version: 3)', error: text(REBALANCE_IN_PROGRESS) })).toBe('REBALANCE_IN_PROGRESS');
    expect(routineKafkaType({ message: 'anything', type: 'REBALANCE_IN_PROGRESS' })).toBe('REBALANCE_IN_PROGRESS');
  });

  it('logs the handled, routine conditions at debug, in the running job and in a one-shot command', () => {
    const routine = [
      // The transactional producer's first send while the broker still writes the last commit's markers, and its retry.
      response('AddPartitionsToTxn(key: 24, version: 1)', CONCURRENT_TRANSACTIONS),
      sendRetry(CONCURRENT_TRANSACTIONS),
      // A heartbeat answered during a rebalance; kafkajs's runner rejoins (WARN, asked for at debug only).
      response('Heartbeat(key: 12, version: 3)', REBALANCE_IN_PROGRESS),
      entry('Runner', logLevel.WARN, 'The group is rebalancing, re-joining', { groupId: 'cdrflow.normalize', memberId: 'm-1', error: text(REBALANCE_IN_PROGRESS) }),
    ];
    for (const e of routine) {
      expect(kafkajsLogLevel(e), e.log['message'] as string).toBe('debug');
      expect(kafkajsLogLevel(e, { oneShot: true })).toBe('debug');
    }
  });

  it('keeps as warnings what signals a real problem, matching whole texts only', () => {
    const problems = [
      response('Metadata(key: 3, version: 6)', TOPIC_AUTHORIZATION_FAILED),
      sendRetry(UNKNOWN_TOPIC_OR_PARTITION),
      entry('Producer', logLevel.ERROR, text(OUT_OF_ORDER_SEQUENCE_NUMBER), { retryCount: 2, retryTime: 1200 }),
      entry('Consumer', logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED 127.0.0.1:9092', { groupId: 'g', retryCount: 5, stack: '…' }),
      // A routine text with more after it, or a `type` that is not routine, is not the routine condition.
      entry('Connection', logLevel.ERROR, 'Response Produce(key: 0, version: 7)', { broker: 'b', error: `${text(CONCURRENT_TRANSACTIONS)} (and then some)` }),
      entry('Producer', logLevel.ERROR, `Failed to send messages: ${text(REBALANCE_IN_PROGRESS)}!`, { retryCount: 0, retryTime: 300 }),
      entry('Admin', logLevel.WARN, 'Could not create topics', { type: 'TOPIC_ALREADY_EXISTS', error: text(REBALANCE_IN_PROGRESS) }),
    ];
    for (const e of problems) expect(kafkajsLogLevel(e), e.log['message'] as string).toBe('warn');
    // kafkajs's INFO and DEBUG stay debug.
    expect(kafkajsLogLevel(entry('Consumer', logLevel.INFO, 'Starting', { groupId: 'g' }))).toBe('debug');
    expect(kafkajsLogLevel(entry('Connection', logLevel.DEBUG, 'Request Fetch(key: 1, version: 11)'))).toBe('debug');
  });

  it('keeps connection failures as warnings in the running job, at debug in a one-shot command (which says it in one line)', async () => {
    // The entries kafkajs really writes when the broker refuses: recorded from a client on a closed loopback port.
    const entries: KafkajsLogEntry[] = [];
    const port = await freePort();
    const admin = new Kafka({
      clientId: 'cdrflow',
      brokers: [`127.0.0.1:${port}`],
      logLevel: logLevel.ERROR,
      retry: { retries: 1, initialRetryTime: 10 },
      logCreator: () => (e) => void entries.push(e as KafkajsLogEntry),
    }).admin();
    await expect(admin.connect()).rejects.toThrow(/ECONNREFUSED/);
    await admin.disconnect();
    expect(entries.map((e) => e.namespace).sort()).toEqual(['BrokerPool', 'BrokerPool', 'Connection', 'Connection']);
    for (const e of entries) {
      expect(kafkajsLogLevel(e)).toBe('warn');
      expect(kafkajsLogLevel(e, { oneShot: true })).toBe('debug');
    }
  });
});


describe('the kafka.client lines', () => {
  it('limits the warnings per namespace (a broker refusing every request is not a line per request), not the debug entries', () => {
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_700 };
    const write = kafkajsLogCreator(false, log, () => clock.ms)(logLevel.ERROR) as unknown as (entry: KafkajsLogEntry) => void;
    for (let i = 0; i < 3_000; i++) write(response('Produce', TOPIC_AUTHORIZATION_FAILED));
    for (let i = 0; i < 3_000; i++) write(sendRetry(CONCURRENT_TRANSACTIONS));
    clock.ms += 1_000;
    write(response('Produce', TOPIC_AUTHORIZATION_FAILED));
    const lines = (level: string) => log.entries.filter((e) => e.event === 'kafka.client' && e.level === level);
    expect(lines('warn')).toHaveLength(LINES_LOGGED_PER_SECOND + 1);
    expect(lines('warn')[0]!.fields).toMatchObject({ namespace: 'Connection', message: 'Response Produce', error: text(TOPIC_AUTHORIZATION_FAILED) });
    expect(lines('debug')).toHaveLength(3_000);
    expect(log.entries.filter((e) => e.event === 'kafka.client_suppressed').map((e) => e.fields)).toEqual([
      { namespace: 'Connection', count: 3_000 - LINES_LOGGED_PER_SECOND, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });

  it('sums up the last second when the client is closed: the process may end before the one-second timer runs', () => {
    const log = memoryLog();
    const creator = kafkajsLogCreator(false, log, () => 1_764_900_000_700);
    const write = creator(logLevel.ERROR) as unknown as (entry: KafkajsLogEntry) => void;
    for (let i = 0; i < LINES_LOGGED_PER_SECOND + 5; i++) write(response('Produce', TOPIC_AUTHORIZATION_FAILED));
    creator.close();
    expect(log.entries.filter((e) => e.event === 'kafka.client_suppressed').map((e) => e.fields)).toEqual([
      { namespace: 'Connection', count: 5, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });
});

describe('createKafka', () => {
  // LOG_LEVEL (or --log-level) is the one switch for kafkajs's own log (README, "Environment variables"): its info
  // entries are written at debug, and below debug kafkajs is asked for its errors only, which reach the log as warnings.
  it.each<[LogLevel, string[]]>([
    ['debug', ['debug kafka.client a kafkajs info entry', 'warn kafka.client a kafkajs error entry']],
    ['info', ['warn kafka.client a kafkajs error entry']],
  ])('at level %s writes kafkajs\'s entries %j', (level, expected) => {
    const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-kafkajs-log-')), 'log.jsonl');
    configureLogging({ level, to: { file }, stderrFormat: 'json' });
    const kafka = createKafka({ brokers: ['127.0.0.1:1'], clientId: 'cdrflow-test' });
    kafka.logger().info('a kafkajs info entry');
    kafka.logger().error('a kafkajs error entry');
    kafka.closeLog();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { level: string; component: string; event: string; message: string });
    expect(lines.filter((l) => l.component === 'kafka').map((l) => `${l.level} ${l.event} ${l.message}`)).toEqual(expected);
  });
});

describe('ensureKafkaReachable', () => {
  it('gives up on a closed port within about a second, silently, naming the address', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await ensureKafkaReachable({ brokers: [`127.0.0.1:${port}`], clientId: 'cdrflow' }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(KafkaUnreachableError);
    expect((err as KafkaUnreachableError).message).toBe(`Kafka at 127.0.0.1:${port} is not reachable (ECONNREFUSED)`);
  });

  it('tells a connection failure, however kafkajs wraps it, from other failures', () => {
    const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError', broker: '127.0.0.1:9092', code: 'ECONNREFUSED' });
    const wrapped = Object.assign(new Error(refused.message), { name: 'KafkaJSNumberOfRetriesExceeded', cause: refused });
    expect(kafkaUnreachable(wrapped, ['a:1'])?.message).toBe('Kafka at 127.0.0.1:9092 is not reachable (ECONNREFUSED)');
    const timeout = Object.assign(new Error('Connection timeout'), { name: 'KafkaJSConnectionError' });
    expect(kafkaUnreachable(timeout, ['a:1', 'b:2'])?.message).toBe('Kafka at a:1,b:2 is not reachable (Connection timeout)');
    expect(kafkaUnreachable(createErrorFromCode(TOPIC_AUTHORIZATION_FAILED), ['a:1'])).toBeUndefined();
    expect(kafkaUnreachable(Object.assign(new Error('SASL'), { name: 'KafkaJSSASLAuthenticationError' }), ['a:1'])).toBeUndefined();
  });
});
