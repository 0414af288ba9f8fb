// Ctrl-C or SIGTERM during `cdrflow reconcile` ends it with the shell's status for the signal (130 / 143), whether the
// run is in this process or in the running job through the ops port: run here it ended with 3 ("no verdict") while
// the same Ctrl-C through the job ended with 130. The servers are stand-ins: the run here waits until it is aborted,
// the job's answers one progress line and then nothing. Signals are emitted on `process` (only the listeners run).
import { createServer, type Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { signalExit } from '../../core/exit-codes.ts';

const job = vi.hoisted(() => ({ base: undefined as string | undefined }));
// The Kafka client's log, closed when the command ends (commandKafka).
const kafkaLog = vi.hoisted(() => ({ closed: 0 }));
const started = vi.hoisted(() => ({ resolve: () => {} }));
// A step before the run that the test holds: `entered` is called when the command reaches it, `release` lets it end.
const held = vi.hoisted(() => ({ step: undefined as 'lookup' | 'migrate' | undefined, entered: () => {}, release: () => {} }));
const holding = vi.hoisted(() => (step: 'lookup' | 'migrate') => {
  if (held.step !== step) return Promise.resolve();
  held.entered();
  return new Promise<void>((resolve) => (held.release = resolve));
});

vi.mock('../../app/ops-client.ts', () => ({ findRunningJob: () => holding('lookup').then(() => job.base) }));
vi.mock('../../core/clickhouse.ts', async (actual) => ({ ...(await actual<typeof import('../../core/clickhouse.ts')>()), createClickHouse: () => Promise.resolve({ close: () => Promise.resolve() }) }));
vi.mock('../../sinks/clickhouse/index.ts', () => ({ migrate: () => holding('migrate') }));
vi.mock('../../app/reconcile-service.ts', async (actual) => ({ ...(await actual<typeof import('../../app/reconcile-service.ts')>()), reconcileDepsOf: () => ({}) }));
vi.mock('../../core/kafka.ts', async (actual) => ({
  ...(await actual<typeof import('../../core/kafka.ts')>()),
  ensureKafkaReachable: () => Promise.resolve(),
  createKafka: () => ({ closeLog: () => void kafkaLog.closed++ }),
}));
vi.mock('../../reconcile/reconcile.ts', async (actual) => ({
  ...(await actual<typeof import('../../reconcile/reconcile.ts')>()),
  // As the real run does: it goes on until its signal aborts it, then rejects with the signal's reason.
  runReconcile: (_deps: unknown, _req: unknown, signal: AbortSignal) => {
    started.resolve();
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
  },
}));

const { runCommand } = await import('../command.ts');
const { command } = await import('./reconcile.ts');
const ARGS = ['--from', 'yesterday', '--to', 'yesterday'];

let server: Server | undefined;
beforeEach(() => {
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(async () => {
  vi.restoreAllMocks();
  job.base = undefined;
  held.release();
  held.step = undefined;
  kafkaLog.closed = 0;
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

/** The command's end: its exit status (a thrown ExitError's code, as cli/main.ts does) and message. */
async function ending(run: Promise<number>): Promise<{ code: number; message?: string }> {
  try {
    return { code: await run };
  } catch (err) {
    return { code: (err as { code: number }).code, message: (err as Error).message };
  }
}

describe('cdrflow reconcile stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('run here: %s ends it with the signal\'s status, not 3 (no verdict)', async (signal) => {
    const running = new Promise<void>((resolve) => (started.resolve = resolve));
    const result = ending(runCommand(command, ARGS));
    await running;
    process.emit(signal, signal);
    expect(await result).toEqual({ code: signalExit(signal), message: `stopped by ${signal}: no verdict, the run was not finished` });
    expect(kafkaLog.closed).toBe(1);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('run in the job: %s ends it with the same status and message, and leaves the job (which aborts its run)', async (signal) => {
    let connected: () => void = () => {};
    const connection = new Promise<void>((resolve) => (connected = resolve));
    let clientLeft: () => void = () => {};
    const left = new Promise<void>((resolve) => (clientLeft = resolve));
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ progress: 'reading the raw topics' })}\n`);
      res.on('close', clientLeft);
      connected();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    job.base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const result = ending(runCommand(command, ARGS));
    await connection;
    process.emit(signal, signal);
    expect(await result).toEqual({ code: signalExit(signal), message: `stopped by ${signal}: no verdict, the run was not finished` });
    await left;
  });

  // The job is looked for for up to 10 s, then the schema is migrated and Kafka checked: a signal then killed node the
  // default way, with no message.
  it.each([
    ['SIGINT', 'lookup'],
    ['SIGTERM', 'lookup'],
    ['SIGINT', 'migrate'],
  ] as const)('before the run: %s during the %s ends it the same way, and the run never starts', async (signal, step) => {
    held.step = step;
    const reached = new Promise<void>((resolve) => (held.entered = resolve));
    const runStarted = new Promise<string>((resolve) => (started.resolve = () => resolve('the run started')));
    const result = ending(runCommand(command, ARGS));
    await reached;
    process.emit(signal, signal);
    // Without a listener the step would end (as the lookup does after 10 s) and the run would start.
    held.release();
    expect(await Promise.race([result, runStarted])).toEqual({ code: signalExit(signal), message: `stopped by ${signal}: no verdict, the run was not finished` });
  });
});
