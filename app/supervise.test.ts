import { describe, expect, it, vi } from 'vitest';
import { CdrflowError } from '../core/errors.ts';
import { classifyKafkaError, consumerCrashError, type StreamHandle } from '../core/kafka-streams.ts';
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
  const deps = {
    setState: (_: string, st: ComponentState) => void states.push(st),
    fail: (_: string, e: unknown) => void failures.push(e),
    log: () => {},
    backoff: { initialMs: 1, maxMs: 4 },
  };
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

  it("restarts a stage whose Kafka client crashed inside itself; a crash carrying cdrflow's own bug still stops the job", async () => {
    // As kafkajs 2.2.4 delivers its fetch racing its own rejoin: its retrier's error around a TypeError of its own.
    const internal = new TypeError("Cannot read properties of undefined (reading '0')");
    const clientCrash = Object.assign(new Error(internal.message), { name: 'KafkaJSNonRetriableError', retriable: false, cause: internal });
    const crash = consumerCrashError(clientCrash, 'cdrflow.normalize');
    expect(crash).toMatchObject({ kind: 'transient', code: 'KAFKA_CLIENT_INTERNAL' });
    const h = harness();
    const stage = await superviseStage('normalize', h.launch, h.deps);
    h.stages[0]!.crash(crash);
    await until(() => h.stages.length === 2 && h.states.at(-1) === 'running');
    expect(h.failures).toEqual([]);
    await stage.stop();

    // The same crash around an error a batch handler threw (a cdrflow bug) keeps its kind, and stops the job.
    const handlerBug = Object.assign(new Error('x is undefined'), { name: 'KafkaJSNonRetriableError', retriable: false, cause: new CdrflowError('bug', 'x is undefined') });
    expect(consumerCrashError(handlerBug, 'cdrflow.normalize').kind).toBe('bug');
    // Kafka's own errors keep their classification.
    expect(consumerCrashError(coordinatorLoading(), 'g').kind).toBe('transient');
    expect(consumerCrashError(Object.assign(new Error('denied'), { name: 'KafkaJSProtocolError', type: 'GROUP_AUTHORIZATION_FAILED' }), 'g').kind).toBe('auth');
  });

  it('stops the job on a systemic error instead of restarting', async () => {
    const h = harness();
    await superviseStage('normalize', h.launch, h.deps);
    h.stages[0]!.crash(new CdrflowError('auth', 'SASL authentication failed'));
    await until(() => h.failures.length === 1);
    expect(h.stages).toHaveLength(1);
  });

  it('keeps restarting for as long as the errors are transient, saying why it waits', async () => {
    const h = harness();
    await superviseStage('sink', h.launch, h.deps);
    // Far more than any fixed budget: an outage lasts as long as it lasts.
    for (let i = 0; i < 30; i++) {
      await until(() => h.stages.length === i + 1);
      h.stages[i]!.crash(classifyKafkaError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' }), 'consumer group g'));
    }
    await until(() => h.stages.length === 31);
    expect(h.failures).toEqual([]);
    expect(h.states).toContain('waiting: ECONNREFUSED (consumer group g: connect ECONNREFUSED 127.0.0.1:9092)');
    await until(() => h.states.at(-1) === 'running');
  });

  it('waits between restarts under a ceiling that starts at 0.5 s and doubles up to 5 s (README: "a capped backoff (0.5 s … 5 s)")', async () => {
    // Full jitter draws each wait below its ceiling: a fixed draw of 1 % reads the ceilings back as waits of 5–50 ms.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.01);
    try {
      const h = harness();
      const waits: unknown[] = [];
      const { backoff: _ownBackoff, ...deps } = h.deps;
      await superviseStage('sink', h.launch, { ...deps, log: (_level, event, fields) => void (event === 'sink.restarting' && waits.push(fields?.['delayMs'])) });
      for (let i = 0; i < 7; i++) {
        await until(() => h.stages.length === i + 1);
        h.stages[i]!.crash(classifyKafkaError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' }), 'consumer group g'));
      }
      await until(() => h.stages.length === 8);
      expect(waits).toEqual([5, 10, 20, 40, 50, 50, 50]);
    } finally {
      random.mockRestore();
    }
  });

  it('retries a transient error at start, then fails on a non-transient one', async () => {
    let calls = 0;
    const states: ComponentState[] = [];
    const launch = async (): Promise<StreamHandle> => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      if (calls === 3) throw new CdrflowError('config', 'topic missing');
      return fakeStage().handle;
    };
    await expect(superviseStage('normalize', launch, { setState: (_, s) => void states.push(s), fail: () => {}, log: () => {}, backoff: { initialMs: 1, maxMs: 2 } })).rejects.toThrow('topic missing');
    expect(calls).toBe(3);
    expect(states.filter((s) => s.startsWith('waiting'))).toHaveLength(2);
  });

  it('retries an unknown topic at start (a topic just created is not served at once) and gives up after 60 s of it (docs/stream-stages.md)', async () => {
    const unknownTopic = () => Object.assign(new Error('This server does not host this topic-partition'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true });
    let clock = 1_000_000; // whole milliseconds: three 20 s steps add up to exactly the 60 s
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
    try {
      let calls = 0;
      // Each attempt takes 20 s of the clock: the third ends at the 60 s the first start allows.
      const launch = async (): Promise<StreamHandle> => {
        calls++;
        clock += 20_000;
        throw unknownTopic();
      };
      await expect(superviseStage('normalize', launch, { setState: () => {}, fail: () => {}, log: () => {}, backoff: { initialMs: 1, maxMs: 2 } })).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION' });
      expect(calls).toBe(3);
    } finally {
      now.mockRestore();
    }
  });

  it('a wall clock stepped forward a day during a start does not end the 60 s of retries at once', async () => {
    // The first start's 60 s are a duration: a clock stepped (NTP, a VM resumed) while a topic was still being served
    // made the next transient error look a day late, and the job failed to start.
    const unknownTopic = () => Object.assign(new Error('This server does not host this topic-partition'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true });
    let wall = Date.now();
    const now = vi.spyOn(Date, 'now').mockImplementation(() => wall);
    try {
      let calls = 0;
      const stage = fakeStage();
      const launch = async (): Promise<StreamHandle> => {
        if (++calls > 1) return stage.handle;
        wall += 86_400_000;
        throw unknownTopic();
      };
      const supervised = await superviseStage('normalize', launch, { setState: () => {}, fail: () => {}, log: () => {}, backoff: { initialMs: 1, maxMs: 2 } });
      expect(calls).toBe(2);
      await supervised.stop();
    } finally {
      now.mockRestore();
    }
  });

  it('treats a consumer that ends by itself as a failure', async () => {
    const h = harness();
    await superviseStage('sink', h.launch, h.deps);
    await h.stages[0]!.handle.stop();
    await until(() => h.failures.length === 1);
  });
});

describe('superviseStage: a stop while the first start is retried', () => {
  it('ends the retries at once with StartCancelled; a start that succeeds meanwhile is stopped', async () => {
    const { deps } = harness();
    const cancel = new AbortController();
    let attempts = 0;
    const refused = () => {
      attempts++;
      if (attempts === 3) cancel.abort();
      return Promise.reject(new CdrflowError('transient', 'connect ECONNREFUSED 127.0.0.1:1'));
    };
    await expect(superviseStage('sink', refused, { ...deps, cancelStart: cancel.signal })).rejects.toMatchObject({ name: 'StartCancelled' });
    // No attempt after the stop (it used to retry until the first-start timeout, 60 s).
    expect(attempts).toBe(3);

    const late = new AbortController();
    const stage = fakeStage();
    const launch = async () => {
      late.abort();
      return stage.handle;
    };
    await expect(superviseStage('sink', launch, { ...deps, cancelStart: late.signal })).rejects.toMatchObject({ name: 'StartCancelled' });
    expect(stage.stopped()).toBe(true);
  });
});

describe('superviseStage: a stop while a restart is under way', () => {
  const crash = () => new CdrflowError('transient', 'connect ECONNREFUSED 127.0.0.1:1');

  it('waits for the start in progress and stops what it started before it says stopped', async () => {
    const h = harness();
    let release!: () => void;
    const relaunched = fakeStage();
    let launches = 0;
    const launch = async () => {
      if (launches++ === 0) return h.launch();
      // The restart's start is still joining when the stop comes.
      await new Promise<void>((resolve) => (release = resolve));
      return relaunched.handle;
    };
    const stage = await superviseStage('sink', launch, h.deps);
    h.stages[0]!.crash(crash());
    await until(() => launches === 2);
    let stopReturned = false;
    const stopping = stage.stop().then(() => (stopReturned = true));
    // The old stage is gone already; the supervisor must not say stopped while the new one may still start.
    await new Promise((r) => setTimeout(r, 20));
    expect(stopReturned).toBe(false);
    release();
    await stopping;
    expect(relaunched.stopped()).toBe(true);
    expect(h.states.at(-1)).toBe('stopped');
    expect(h.failures).toEqual([]);
  });

  it('neither fails the job nor says waiting when the restart in progress fails after the stop', async () => {
    const h = harness();
    let refuse!: (err: unknown) => void;
    let launches = 0;
    const launch = async () => {
      if (launches++ === 0) return h.launch();
      return new Promise<StreamHandle>((_, reject) => (refuse = reject));
    };
    const stage = await superviseStage('sink', launch, h.deps);
    h.stages[0]!.crash(crash());
    await until(() => launches === 2);
    const stopping = stage.stop();
    refuse(new CdrflowError('config', 'topic missing'));
    await stopping;
    await new Promise((r) => setTimeout(r, 20));
    expect(h.failures).toEqual([]);
    expect(h.states.at(-1)).toBe('stopped');
    expect(launches).toBe(2);
  });

  it('does not count a start refused after the stop as a restart, nor wait to try again', async () => {
    const h = harness();
    let refuse!: (err: unknown) => void;
    let launches = 0;
    const restarts: string[] = [];
    const launch = async () => {
      if (launches++ === 0) return h.launch();
      return new Promise<StreamHandle>((_, reject) => (refuse = reject));
    };
    const stage = await superviseStage('sink', launch, { ...h.deps, onRestart: (_name, err) => void restarts.push(err.message) });
    h.stages[0]!.crash(crash());
    await until(() => launches === 2);
    const stopping = stage.stop();
    refuse(crash());
    await stopping;
    // Whatever the refusal still sets off (the supervisor's backoff is 1-4 ms here) has happened by now.
    await new Promise((r) => setTimeout(r, 20));
    // The crash's restart only: the refusal after the stop is the stop's, not an outage to wait out.
    expect(restarts).toHaveLength(1);
    expect(h.states.filter((s) => s.startsWith('waiting'))).toHaveLength(1);
    expect(h.states.at(-1)).toBe('stopped');
  });
});
