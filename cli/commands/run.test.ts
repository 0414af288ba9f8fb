// `cdrflow run`'s close path: however it ends (a stop request, the stage's own error, a start that fails or is
// cancelled), what it opened (ClickHouse, the Kafka client's log) is closed exactly once, the exit code is the ending's,
// and a close that fails too never hides the stage's own error. The stage, its supervisor, the clients and the stop
// request are stand-ins; the command runs through runCommand, as cli/main.ts runs it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LogFields } from '../../core/log.ts';

const fake = vi.hoisted(() => ({
  /** How the supervised stage starts. */
  start: 'runs' as 'runs' | 'fails' | 'waits',
  stopFails: false,
  closeFails: false,
  counts: { stop: 0, close: 0, closeLog: 0 },
  /** The stage's supervisor is waiting for it (superviseStage called): `fail` ends it with an error. */
  started: undefined as undefined | { fail: (err: unknown) => void },
  onStarted: () => {},
  signal: (_: NodeJS.Signals) => {},
}));

vi.mock('../signals.ts', () => ({ untilSignal: () => new Promise<NodeJS.Signals>((resolve) => (fake.signal = resolve)) }));
vi.mock('../../core/log.ts', async (actual) => {
  const log = await actual<typeof import('../../core/log.ts')>();
  const memory = log.memoryLog();
  return { ...log, logger: (component: string) => memory.child(component), memoryEntries: memory.entries };
});
vi.mock('../../core/kafka.ts', async (actual) => ({
  ...(await actual<typeof import('../../core/kafka.ts')>()),
  createKafka: () => ({ closeLog: () => void fake.counts.closeLog++ }),
}));
vi.mock('../../core/clickhouse.ts', async (actual) => ({
  ...(await actual<typeof import('../../core/clickhouse.ts')>()),
  createClickHouse: () =>
    Promise.resolve({
      close: async () => {
        fake.counts.close++;
        if (fake.closeFails) throw new Error('close failed');
      },
    }),
}));
vi.mock('../../app/supervise.ts', async (actual) => {
  const { StartCancelled } = await import('../../app/supervise.ts');
  return {
    ...(await actual<typeof import('../../app/supervise.ts')>()),
    superviseStage: async (_name: string, _launch: unknown, deps: { fail: (name: string, err: unknown) => void; cancelStart: AbortSignal }) => {
      fake.started = { fail: (err) => deps.fail('sink', err) };
      fake.onStarted();
      if (fake.start === 'fails') throw new Error('schema registry refused the subject');
      if (fake.start === 'waits') {
        await new Promise((resolve) => deps.cancelStart.addEventListener('abort', resolve, { once: true }));
        throw new StartCancelled('stopped during start-up');
      }
      return {
        stop: async () => {
          fake.counts.stop++;
          if (fake.stopFails) throw new Error('commit failed');
        },
      };
    },
  };
});

const { runCommand } = await import('../command.ts');
const { command } = await import('./run.ts');
const { memoryEntries } = (await import('../../core/log.ts')) as unknown as { memoryEntries: { event: string; fields: LogFields }[] };

let printed: string[];
beforeEach(() => {
  // The deadlines it arms (process.exit after 5 s / 45 s) must not fire in the test process.
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  Object.assign(fake, { start: 'runs', stopFails: false, closeFails: false, counts: { stop: 0, close: 0, closeLog: 0 }, started: undefined });
  memoryEntries.length = 0;
  printed = [];
  vi.spyOn(console, 'error').mockImplementation((text: unknown) => void printed.push(String(text)));
});
afterEach(() => {
  vi.clearAllTimers();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Runs `cdrflow run sink` until its supervisor has been called; `settled` is its end (code or error). */
async function runSink() {
  const started = new Promise<void>((resolve) => (fake.onStarted = resolve));
  const settled = runCommand(command, ['sink']).then(
    (code) => ({ code }),
    (err: unknown) => ({ error: (err as Error).message }),
  );
  await started;
  return { settled, fail: (err: unknown) => fake.started!.fail(err) };
}

describe('cdrflow run: what it opened is closed once, however it ends', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('a stop request (%s): the stage stops, then ClickHouse and the Kafka log close; exit 0', async (signal) => {
    const { settled } = await runSink();
    fake.signal(signal);
    expect(await settled).toEqual({ code: 0 });
    expect(fake.counts).toEqual({ stop: 1, close: 1, closeLog: 1 });
  });

  it("the stage's own error: exit 1 with the error printed", async () => {
    const { settled, fail } = await runSink();
    fail(new Error('not authorized to write the topic'));
    expect(await settled).toEqual({ code: 1 });
    expect(fake.counts).toEqual({ stop: 1, close: 1, closeLog: 1 });
    expect(printed).toEqual([expect.stringMatching(/^cdrflow run sink: stopped by a \w+ error: not authorized to write the topic$/)]);
  });

  it("the stage's error is printed printably: a broker's or a server's text may carry a bidi override or an escape sequence", async () => {
    const { settled, fail } = await runSink();
    fail(new Error('refused row \u202eterces\u202c\r\x1b[2J\nsecond line'));
    expect(await settled).toEqual({ code: 1 });
    expect(printed).toEqual([expect.stringMatching(/^cdrflow run sink: stopped by a \w+ error: refused row \\u202eterces\\u202c\\u000d\\u001b\[2J\nsecond line$/)]);
  });

  it('a start that fails: its error ends the command', async () => {
    fake.start = 'fails';
    const { settled } = await runSink();
    expect(await settled).toEqual({ error: 'schema registry refused the subject' });
    expect(fake.counts).toEqual({ stop: 0, close: 1, closeLog: 1 });
  });

  it('a stop request while it starts: exit 0', async () => {
    fake.start = 'waits';
    const { settled } = await runSink();
    fake.signal('SIGINT');
    expect(await settled).toEqual({ code: 0 });
    expect(fake.counts).toEqual({ stop: 0, close: 1, closeLog: 1 });
  });

  it('a clean stop that fails still closes ClickHouse, and ends with its error', async () => {
    fake.stopFails = true;
    const { settled } = await runSink();
    fake.signal('SIGTERM');
    expect(await settled).toEqual({ error: 'commit failed' });
    expect(fake.counts).toEqual({ stop: 1, close: 1, closeLog: 1 });
  });

  it('a close that fails after a clean stop ends the command with its error', async () => {
    fake.closeFails = true;
    const { settled } = await runSink();
    fake.signal('SIGTERM');
    expect(await settled).toEqual({ error: 'close failed' });
    expect(fake.counts).toEqual({ stop: 1, close: 1, closeLog: 1 });
  });
});

describe("cdrflow run: a close that fails never hides the stage's own error", () => {
  const closeFailure = () => memoryEntries.filter((e) => e.event === 'shutdown.step_failed').map((e) => e.fields);

  it('after a start that failed', async () => {
    fake.start = 'fails';
    fake.closeFails = true;
    const { settled } = await runSink();
    expect(await settled).toEqual({ error: 'schema registry refused the subject' });
    expect(closeFailure()).toEqual([{ step: 'clickhouse', error: 'Error: close failed' }]);
  });

  it('after the stage stopped with an error', async () => {
    fake.closeFails = true;
    const { settled, fail } = await runSink();
    fail(new Error('not authorized to write the topic'));
    expect(await settled).toEqual({ code: 1 });
    expect(printed).toEqual([expect.stringMatching(/not authorized to write the topic$/)]);
    expect(closeFailure()).toEqual([{ step: 'clickhouse', error: 'Error: close failed' }]);
  });

  it('after a clean stop that failed', async () => {
    fake.stopFails = true;
    fake.closeFails = true;
    const { settled } = await runSink();
    fake.signal('SIGINT');
    expect(await settled).toEqual({ error: 'commit failed' });
    expect(closeFailure()).toEqual([{ step: 'clickhouse', error: 'Error: close failed' }]);
  });
});
