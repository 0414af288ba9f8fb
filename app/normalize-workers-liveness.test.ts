// The main thread's liveness check of the normalize members (normalize-workers.ts LIVENESS), with members that speak the
// protocol without Kafka (fixtures/hostile-normalize-worker.ts): one that hangs, before or after it started, is
// terminated and fails the stage (or its start); one whose loop is busy for 2 s, running or loading, is left alone.
import { describe, expect, it } from 'vitest';
import { memoryLog } from '../core/log.ts';
import { loadAppConfig } from './config.ts';
import { LIVENESS, startNormalizeStage } from './normalize-workers.ts';

const HOSTILE = new URL('./fixtures/hostile-normalize-worker.ts', import.meta.url);
const configFor = (instanceId: string) =>
  loadAppConfig({
    env: {},
    overrides: (doc) => {
      doc['normalize'] = { instanceId, workers: 1 };
      // At the process's priority: a member waiting for a CPU has its deadline stretched (answerWithin, up to ten
      // times), and at the default nice on a loaded machine the hung one was ended after the 10 s this test waits.
      doc['workerThreads'] = { nice: 0 };
    },
  });

/** `promise`'s outcome, or 'pending' when it has not settled within `ms`. */
const settledWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([
    promise.then(
      () => 'resolved',
      (err: unknown) => err,
    ),
    new Promise((r) => setTimeout(() => r('pending'), ms).unref()),
  ]);

describe('the normalize members liveness check', () => {
  it('terminates a member that stops answering, with one log line naming it, and fails the stage as a bug', async () => {
    const log = memoryLog();
    const stage = await startNormalizeStage(configFor('hang'), {
      log,
      entry: HOSTILE,
      // Pinged from its thread being online: the deadline covers the fixture's loading too (0.3-0.5 s quiet).
      liveness: { everyMs: 100, deadlineMs: 3_000 },
    });
    try {
      const outcome = await settledWithin(stage.done, 15_000);
      expect(outcome).toMatchObject({
        kind: 'bug',
        message:
          'normalize worker hang: the normalize hang thread did not answer within 3000 ms (answering a liveness ping) and was terminated',
      });
      const lines = log.entries.filter((e) => e.event === 'normalize.worker_unresponsive');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'error',
        fields: { instanceId: 'hang', waitedMs: 3_000, lastCommitted: { records: 3, deadLettered: 0 } },
      });
      expect(lines[0]!.fields['lastCommitAt']).toMatch(/^\d{4}-\d\d-\d\dT/);
    } finally {
      await stage.stop();
    }
    // The thread was terminated: stopping did not wait for it.
    expect(log.entries.filter((e) => e.event === 'normalize.worker_stop_timeout')).toEqual([]);
  }, 30_000);

  it('terminates a member that hangs before it started, and fails the start as a bug (it waited for ever)', async () => {
    const log = memoryLog();
    const start = startNormalizeStage(configFor('hang-loading'), { log, entry: HOSTILE, liveness: { everyMs: 100, deadlineMs: 1_000 } });
    expect(await settledWithin(start, 10_000)).toMatchObject({
      kind: 'bug',
      message:
        'normalize worker hang-loading: the normalize hang-loading thread did not answer within 1000 ms (answering a liveness ping before it started) and was terminated',
    });
    const lines = log.entries.filter((e) => e.event === 'normalize.worker_unresponsive');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', fields: { instanceId: 'hang-loading', waitedMs: 1_000, lastCommitAt: 'none' } });
    // The thread was terminated: the start's clean-up did not wait for it.
    expect(log.entries.filter((e) => e.event === 'normalize.worker_stop_timeout')).toEqual([]);
  }, 20_000);

  // 'busy' blocks its loop 2 s after it started, 'slow-loading' while it loads (pinged from its thread being online).
  it.each(['busy', 'slow-loading'])('leaves a member whose loop is busy for 2 s alone (%s: pinged meanwhile, it answers after)', async (kind) => {
    const log = memoryLog();
    let committed!: () => void;
    const afterBusy = new Promise<void>((resolve) => (committed = resolve));
    const stage = await startNormalizeStage(configFor(kind), {
      log,
      entry: HOSTILE,
      onCommitted: () => committed(),
      liveness: { everyMs: 100, deadlineMs: LIVENESS.deadlineMs },
    });
    try {
      // A member terminated meanwhile fails the stage: that error, rather than a wait for a commit that never comes.
      await Promise.race([afterBusy, stage.done]);
      expect(await settledWithin(stage.done, 500)).toBe('pending');
      expect(log.entries.filter((e) => e.level === 'error')).toEqual([]);
    } finally {
      await stage.stop();
    }
    expect(log.entries.filter((e) => e.event === 'normalize.worker_stop_timeout')).toEqual([]);
  }, 20_000);

});
