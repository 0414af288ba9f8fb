// Table tests of the error classifier with the Kafka client's real error objects, Node system errors and fetch
// failures: every class of error the stages meet during an outage, a rebalance or a misconfiguration.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
// The client's error classes, untyped: its type declarations leave some out and give others other constructors.
type ErrorClass = new (...args: unknown[]) => Error;
const k = createRequire(import.meta.url)('kafkajs') as Record<string, ErrorClass | undefined>;
const cls = (name: string): ErrorClass => {
  const c = k[name];
  if (!c) throw new Error(`kafkajs has no ${name}`);
  return c;
};
const [
  KafkaJSBrokerNotFound,
  KafkaJSConnectionClosedError,
  KafkaJSConnectionError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSLockTimeout,
  KafkaJSNoBrokerAvailableError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSTopicMetadataNotLoaded,
] = [
  'KafkaJSBrokerNotFound',
  'KafkaJSConnectionClosedError',
  'KafkaJSConnectionError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSNonRetriableError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSRequestTimeoutError',
  'KafkaJSSASLAuthenticationError',
  'KafkaJSTopicMetadataNotLoaded',
].map(cls) as [ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass, ErrorClass];
import {
  CdrflowError,
  KAFKA_AUTH_TYPES,
  KAFKA_FENCED_TYPES,
  KAFKA_REJOIN_TYPES,
  KAFKA_TOO_LARGE_TYPES,
  NETWORK_ERRNOS,
  asCdrflowError,
  classifyError,
  clientRejoinError,
  deserializeError,
  disposition,
  serializeError,
  type ErrorKind,
} from './errors.ts';

// The client's own factory of protocol errors (what a broker's error code becomes).
const protocol = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error & { type: string; retriable: boolean };
  errorCodes: { type: string; code: number }[];
};
const byType = (type: string) => {
  const entry = protocol.errorCodes.find((e) => e.type === type);
  if (!entry) throw new Error(`no Kafka error type ${type}`);
  return protocol.createErrorFromCode(entry.code);
};
const sysErr = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:9092`), { code, errno: -111, syscall: 'connect' });

describe('classifyError: Kafka protocol errors by type', () => {
  const rows: [string, ErrorKind][] = [
    ['REBALANCE_IN_PROGRESS', 'transient'],
    ['UNKNOWN_MEMBER_ID', 'transient'],
    ['ILLEGAL_GENERATION', 'transient'],
    ['NOT_COORDINATOR_FOR_GROUP', 'transient'],
    ['GROUP_LOAD_IN_PROGRESS', 'transient'],
    ['GROUP_COORDINATOR_NOT_AVAILABLE', 'transient'],
    ['CONCURRENT_TRANSACTIONS', 'transient'],
    ['LEADER_NOT_AVAILABLE', 'transient'],
    ['NOT_LEADER_FOR_PARTITION', 'transient'],
    ['REQUEST_TIMED_OUT', 'transient'],
    ['NOT_ENOUGH_REPLICAS', 'transient'],
    ['SASL_AUTHENTICATION_FAILED', 'auth'],
    ['TOPIC_AUTHORIZATION_FAILED', 'auth'],
    ['GROUP_AUTHORIZATION_FAILED', 'auth'],
    ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'auth'],
    ['INVALID_PRODUCER_EPOCH', 'config'],
    ['INVALID_PRODUCER_ID_MAPPING', 'config'],
    ['MESSAGE_TOO_LARGE', 'config'],
    ['RECORD_LIST_TOO_LARGE', 'config'],
    ['UNKNOWN_TOPIC_OR_PARTITION', 'transient'],
    ['INVALID_REQUIRED_ACKS', 'bug'],
    ['CORRUPT_MESSAGE', 'transient'],
    ['INVALID_REQUEST', 'bug'],
  ];
  it.each(rows)('%s -> %s', (type, kind) => {
    const err = classifyError(byType(type), 'consumer group g');
    expect(err.kind).toBe(kind);
    expect(err.code).toBe(type);
    expect(err.message).toMatch(/^consumer group g: /);
  });

  it('covers every listed type with a real client error type', () => {
    const known = new Set(protocol.errorCodes.map((e) => e.type));
    // Types newer than the client (it maps them to "unknown"): recognised anyway when a broker sends them.
    const newer = new Set(['COORDINATOR_LOAD_IN_PROGRESS', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'PRODUCER_FENCED', 'ILLEGAL_SASL_STATE', 'TRANSACTIONAL_ID_NOT_FOUND']);
    for (const t of [...KAFKA_AUTH_TYPES, ...KAFKA_FENCED_TYPES, ...KAFKA_REJOIN_TYPES, ...KAFKA_TOO_LARGE_TYPES]) expect(known.has(t) || newer.has(t), t).toBe(true);
  });
});

describe('classifyError: Kafka client error classes', () => {
  const rows: [string, () => unknown, ErrorKind][] = [
    ['KafkaJSConnectionError (broker down)', () => new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: 'b:1', code: 'ECONNREFUSED' }), 'transient'],
    ['KafkaJSConnectionClosedError', () => new KafkaJSConnectionClosedError('Closed connection', { host: 'b', port: 1 }), 'transient'],
    ['KafkaJSRequestTimeoutError', () => new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'), 'transient'],
    ['KafkaJSBrokerNotFound', () => new KafkaJSBrokerNotFound('Broker 1 not found in the cached metadata'), 'transient'],
    ['KafkaJSNoBrokerAvailableError', () => new KafkaJSNoBrokerAvailableError(), 'transient'],
    ['KafkaJSGroupCoordinatorNotFound', () => new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'), 'transient'],
    ['KafkaJSTopicMetadataNotLoaded', () => new KafkaJSTopicMetadataNotLoaded('Topic metadata not loaded', { topic: 't' }), 'transient'],
    ['KafkaJSLockTimeout', () => new KafkaJSLockTimeout('Timeout while acquiring lock'), 'transient'],
    [
      'KafkaJSNumberOfRetriesExceeded around a connection error',
      () => new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'), { retryCount: 5, retryTime: 100 }),
      'transient',
    ],
    ['KafkaJSNonRetriableError caused by a retriable one', () => new KafkaJSNonRetriableError('outer', { cause: byType('REBALANCE_IN_PROGRESS') }), 'transient'],
    ['KafkaJSNonRetriableError with an originalError (the client\'s wrapping)', () => Object.assign(new KafkaJSNonRetriableError('outer'), { originalError: new KafkaJSConnectionError('down') }), 'transient'],
    // As kafkajs's retrier gives up on a refusal no retry mends: the broker's answer as the cause.
    ['KafkaJSNonRetriableError caused by MESSAGE_TOO_LARGE (a topic limit below the write)', () => new KafkaJSNonRetriableError(byType('MESSAGE_TOO_LARGE'), { cause: byType('MESSAGE_TOO_LARGE') }), 'config'],
    ['KafkaJSSASLAuthenticationError', () => new KafkaJSSASLAuthenticationError('SASL PLAIN authentication failed'), 'auth'],
    // kafkajs's one untyped error: a request on a broker whose connection never finished its handshake (a wedged broker).
    ['the client\'s plain Error("Broker not connected")', () => new Error('Broker not connected'), 'transient'],
    ['the same message on an error class of its own is not it', () => new TypeError('Broker not connected'), 'bug'],
    ['KafkaJSNonRetriableError alone (e.g. a broken client state)', () => new KafkaJSNonRetriableError('Transaction state exception: Cannot call "beginTransaction" in state "ABORTING"'), 'bug'],
  ];
  it.each(rows)('%s -> %s', (_name, make, kind) => {
    expect(classifyError(make()).kind).toBe(kind);
  });
});

describe('classifyError: system and fetch errors by errno code', () => {
  it.each([...NETWORK_ERRNOS])('%s -> transient', (code) => {
    const err = classifyError(sysErr(code));
    expect(err.kind).toBe('transient');
    expect(err.code).toBe(code);
  });
  it.each([
    ['fetch failed (ECONNREFUSED cause)', () => Object.assign(new TypeError('fetch failed'), { cause: sysErr('ECONNREFUSED') }), 'transient'],
    ['EADDRINUSE', () => sysErr('EADDRINUSE'), 'bug'],
    ['ENOENT', () => sysErr('ENOENT'), 'bug'],
    ['plain Error', () => new Error('boom'), 'bug'],
    ['a string', () => 'boom', 'bug'],
    ['undefined', () => undefined, 'bug'],
    ['a cycle of causes', () => { const a: Record<string, unknown> = { message: 'a' }; a['cause'] = a; return a; }, 'bug'],
  ] as [string, () => unknown, ErrorKind][])('%s -> %s', (_name, make, kind) => {
    expect(classifyError(make()).kind).toBe(kind);
  });
});

describe('clientRejoinError', () => {
  it.each([
    ['REBALANCE_IN_PROGRESS', true],
    ['ILLEGAL_GENERATION', true],
    ['UNKNOWN_MEMBER_ID', true],
    ['NOT_COORDINATOR_FOR_GROUP', true],
    ['LEADER_NOT_AVAILABLE', false],
    ['GROUP_AUTHORIZATION_FAILED', false],
  ])('%s: the client rejoins by itself: %s', (type, rejoins) => {
    const raw = byType(type);
    expect(clientRejoinError(raw) === raw).toBe(rejoins);
    // Found through our wrapper too: the client's own error is what must leave the batch handler.
    expect(clientRejoinError(classifyError(raw, 'transaction')) === raw).toBe(rejoins);
  });
  it('finds nothing in a plain error', () => expect(clientRejoinError(new Error('x'))).toBeUndefined());
});

describe('classifyError: our own errors', () => {
  it('keeps a CdrflowError as it is, and its kind when it is a cause', () => {
    const own = new CdrflowError('rate_limited', 'slow down', { code: 'RequestLimitExceeded' });
    expect(classifyError(own)).toBe(own);
    const wrapped = classifyError(new Error('outer', { cause: own }), 'polling');
    expect(wrapped.kind).toBe('rate_limited');
    expect(wrapped.code).toBe('RequestLimitExceeded');
  });
  it('is what asCdrflowError does', () => {
    expect(asCdrflowError(sysErr('ECONNREFUSED')).kind).toBe('transient');
    expect(disposition(asCdrflowError(new Error('x')))).toBe('stop');
  });
});

describe('serializeError / deserializeError (across a worker thread)', () => {
  it('keeps kind, message and code, and turns an unknown kind into a bug', () => {
    const back = deserializeError(serializeError(new CdrflowError('rate_limited', 'slow down', { code: 'RequestLimitExceeded' })));
    expect(back).toBeInstanceOf(CdrflowError);
    expect([back.kind, back.message, back.code]).toEqual(['rate_limited', 'slow down', 'RequestLimitExceeded']);
    expect(serializeError(new TypeError('x is undefined')).kind).toBe('bug');
    expect(deserializeError({ kind: 'no_such_kind' as never, message: 'm' }).kind).toBe('bug');
  });
});
