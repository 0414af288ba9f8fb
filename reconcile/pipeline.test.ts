// Waiting for the live stages (reconcile/pipeline.ts): a lag Kafka cannot give right now (a broker settling, away for a
// moment) is waited out as "not caught up yet"; a failure retrying cannot help (no rights on the group, a bug) ends the
// wait at once, as core/errors.ts decides, instead of being polled until the deadline and reported as lag.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CdrflowError } from '../core/errors.ts';
import type { Kafka } from '../core/kafka.ts';

const lag = vi.hoisted(() => ({ fail: undefined as (() => unknown) | undefined }));
vi.mock('../core/kafka-streams.ts', () => ({
  stageLag: () => (lag.fail ? Promise.reject(lag.fail()) : Promise.resolve(0)),
  groupLag: () => (lag.fail ? Promise.reject(lag.fail()) : Promise.resolve([])),
}));

const { waitForSnapshot, waitForStages } = await import('./pipeline.ts');

const kafka = {} as Kafka;
const groups = { normalize: { groupId: 'n', topics: ['cdr.raw.x'] }, sink: { groupId: 's', topic: 'cdr.normalized' } };
const denied = () => Object.assign(new Error('Not authorized to access group'), { name: 'KafkaJSProtocolError', type: 'GROUP_AUTHORIZATION_FAILED' });
const away = () => new CdrflowError('transient', 'Connection error: connect ECONNREFUSED', { code: 'ECONNREFUSED' });

beforeEach(() => {
  lag.fail = undefined;
});

describe('waiting for the stages', () => {
  it('a lag that cannot be read for a passing reason counts as not caught up', async () => {
    lag.fail = away;
    expect(await waitForStages(kafka, groups, { timeoutMs: 0 })).toEqual({ drained: false, normalizeLag: -1, sinkLag: -1 });
    expect(await waitForSnapshot(kafka, groups, { timeoutMs: 0 })).toEqual({ caughtUp: false, behind: 0 });
  });

  it('a failure retrying cannot help ends the wait with it', async () => {
    lag.fail = denied;
    await expect(waitForStages(kafka, groups, { timeoutMs: 0 })).rejects.toMatchObject({ kind: 'auth', code: 'GROUP_AUTHORIZATION_FAILED' });
    await expect(waitForSnapshot(kafka, groups, { timeoutMs: 0 })).rejects.toMatchObject({ kind: 'auth', code: 'GROUP_AUTHORIZATION_FAILED' });
  });

  it('caught up when both lags are 0', async () => {
    expect(await waitForStages(kafka, groups, { timeoutMs: 0 })).toEqual({ drained: true, normalizeLag: 0, sinkLag: 0 });
    expect(await waitForSnapshot(kafka, groups, { timeoutMs: 0 })).toEqual({ caughtUp: true, behind: 0 });
  });
});
