import { describe, expect, it } from 'vitest';
import { CdrflowError } from '../core/errors.ts';
import { classifyKafkaError, type StreamHandle } from '../core/kafka-streams.ts';
import { superviseStage, type ComponentState } from './supervise.ts';

/** A stage whose `done` the test settles by hand. */
function fakeStage() {
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined);
  let stopped = false;
  const handle: StreamHandle = {
    done,
    stop: async () => {
      stopped = true;
      settle.resolve();
    },
  };
  return { handle, crash: (e: unknown) => settle.reject(e), stopped: () => stopped };
}

// kafkajs' own error for a coordinator that is still loading (retriable), as a consumer crash delivers it.
const coordinatorLoading = () => Object.assign(new Error("The coordinator is loading and hence can't process requests for this group"), { name: 'KafkaJSProtocolError', type: 'COORDINATOR_LOAD_IN_PROGRESS', retriable: true });

function harness() {
  const states: ComponentState[] = [];
  const failures: unknown[] = [];
  const stages: ReturnType<typeof fakeStage>[] = [];
  const launch = async () => {
    const s = fakeStage();
    stages.push(s);
    return s.handle;
  };
  const deps = { setState: (_: string, st: ComponentState) => void states.push(st), fail: (_: string, e: unknown) => void failures.push(e), log: () => {}, initialDelayMs: 1 };
  return { states, failures, stages, launch, deps };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('superviseStage', () => {
  it('restarts a stage that crashed on a transient Kafka error (as the consumer crash handler classifies it)', async () => {
    const h = harness();
    const stage = await superviseStage('sink', h.launch, h.deps);
    const crash = classifyKafkaError(coordinatorLoading(), 'consumer group cdrflow.sink.clickhouse');
    expect(crash.kind).toBe('transient');
    h.stages[0]!.crash(crash);
    await until(() => h.stages.length === 2);
    await until(() => h.states.at(-1) === 'running');
    expect(h.failures).toEqual([]);
    await stage.stop();
    expect(h.stages[1]!.stopped()).toBe(true);
    expect(h.states.at(-1)).toBe('stopped');
  });

  it('stops the job on a systemic error instead of restarting', async () => {
    const h = harness();
    await superviseStage('normalize', h.launch, h.deps);
    h.stages[0]!.crash(new CdrflowError('auth', 'SASL authentication failed'));
    await until(() => h.failures.length === 1);
    expect(h.stages).toHaveLength(1);
  });

  it('gives up after a few transient crashes in a row', async () => {
    const h = harness();
    await superviseStage('sink', h.launch, h.deps);
    for (let i = 0; i < 6; i++) {
      await until(() => h.stages.length === i + 1);
      h.stages[i]!.crash(new CdrflowError('transient', 'broker gone'));
    }
    await until(() => h.failures.length === 1);
    expect(h.stages).toHaveLength(6);
  });

  it('treats a consumer that ends by itself as a failure', async () => {
    const h = harness();
    await superviseStage('sink', h.launch, h.deps);
    await h.stages[0]!.handle.stop();
    await until(() => h.failures.length === 1);
  });
});
