import { describe, expect, it } from 'vitest';
import { CdrflowError } from '../../../core/errors.ts';
import { LINES_LOGGED_PER_SECOND } from '../../../core/log-limit.ts';
import { memoryLog } from '../../../core/log.ts';
import { deadLetterKey, recordFailure, recordFailureLog, systemicFailure } from './record-failure.ts';

function stackOverflow(): unknown {
  const deep = (n: number): number => deep(n + 1) + 1;
  try {
    deep(0);
  } catch (err) {
    return err;
  }
  return null;
}

describe('per-record isolation in normalize', () => {
  it('turns an exception in the mapping (a stack overflow) into a dead letter of kind bug, naming the stage', () => {
    const f = recordFailure('mapping', stackOverflow());
    expect(f).toMatchObject({ stage: 'mapping', kind: 'bug', contract: false });
    expect(f.message).toMatch(/^normalize\/mapping: internal error on this record: RangeError: Maximum call stack size exceeded/);
  });

  it('counts a record the contract rejects at encode time as a contract violation, with the paths', () => {
    const err = Object.assign(new Error('invalid payload'), { name: 'ConfluentSchemaRegistryValidationError', paths: [['direction']] });
    expect(recordFailure('encode', err)).toMatchObject({ stage: 'encode', kind: 'bug', contract: true, message: expect.stringMatching(/outside the contract .* at direction/) });
  });

  it('dead-letters corrupt Avro bytes but rethrows systemic errors (registry down, unknown schema)', () => {
    expect(recordFailure('decode', Object.assign(new Error('bad magic byte'), { name: 'ConfluentSchemaRegistryArgumentError' }))).toMatchObject({ kind: 'bad_record' });
    expect(() => recordFailure('decode', Object.assign(new Error('not found'), { status: 404 }))).toThrow(CdrflowError);
    expect(() => recordFailure('decode', new CdrflowError('transient', 'ECONNREFUSED'))).toThrow(/ECONNREFUSED/);
    expect(() => recordFailure('encode', new CdrflowError('schema', 'subject missing'))).toThrow(/subject missing/);
  });

  it('stops only when every record of a large chunk failed at the same stage', () => {
    const bug = recordFailure('mapping', new TypeError('x is undefined'));
    expect(systemicFailure(Array(50).fill(bug), 50, 50)).toBeInstanceOf(CdrflowError);
    expect(systemicFailure(Array(49).fill(bug), 50, 50)).toBeNull();
    expect(systemicFailure(Array(10).fill(bug), 10, 50)).toBeNull();
    const encode = recordFailure('encode', new TypeError('y'));
    expect(systemicFailure([...Array(49).fill(bug), encode], 50, 50)).toBeNull();
  });

  it('keys a dead letter by the call, or by a hash when the key is hostile', () => {
    expect(deadLetterKey('tencent-ccc:1:s-1', Buffer.from('s-1'))).toBe('tencent-ccc:1:s-1');
    expect(deadLetterKey(null, Buffer.from('s-1'))).toEqual(Buffer.from('s-1'));
    expect(deadLetterKey(`x:${'a'.repeat(500_000)}`, Buffer.from('b'.repeat(500_000)))).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('the normalize.record_failed lines', () => {
  it('logs the first failures of a second per stage and kind and sums up the rest: 10,000 broken payloads in one second are not 10,000 lines', () => {
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_100 };
    const lines = recordFailureLog(log, () => clock.ms);
    const failure = recordFailure('decode', new SyntaxError('Unexpected token < in JSON at position 0'));
    for (let offset = 0; offset < 10_000; offset++) lines.failed({ topic: 'cdr.raw.tencent-ccc', partition: 0, offset }, failure);
    lines.failed({ topic: 'cdr.raw.tencent-ccc', partition: 0, offset: 10_000 }, recordFailure('mapping', new TypeError('x is undefined')));
    clock.ms += 1_000;
    lines.close();
    const failed = log.entries.filter((e) => e.event === 'normalize.record_failed');
    expect(failed).toHaveLength(LINES_LOGGED_PER_SECOND + 1);
    expect(failed[0]!.fields).toMatchObject({ stage: 'decode', kind: failure.kind, topic: 'cdr.raw.tencent-ccc', partition: 0, offset: 0, error: failure.message });
    expect(log.entries.filter((e) => e.event === 'normalize.record_failed_suppressed').map((e) => e.fields)).toEqual([
      { stage: 'decode', kind: failure.kind, count: 10_000 - LINES_LOGGED_PER_SECOND, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });
});
