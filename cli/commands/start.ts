// `cdrflow start [--config FILE] [--demo] [--rate N]`: the main job in one process (see app/). Exits 0 after a clean
// shutdown on SIGINT/SIGTERM (also during start-up), 1 when a component stopped by itself, 78 when the configuration
// is invalid or a setting cannot be used (a port in use — by another job too —, a data directory that is a file: one
// line naming the setting, before anything starts).
import { exitProcess } from '../../core/engine-exit.ts';
import { join } from 'node:path';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags, positiveNumber } from '../args.ts';
import { loadCommandConfig, settingExit } from '../app-config.ts';
import { EXIT_CONFIG, signalExit } from '../../core/exit-codes.ts';
import { DEMO_CALLS_PER_SECOND, endpoints } from '../../app/config.ts';
import { REPO_ROOT } from '../../core/repo-root.ts';
import { findRunningJob } from '../../app/ops-client.ts';
import { startMainJob } from '../../app/job.ts';
import { StartCancelled } from '../../app/supervise.ts';
import { logger } from '../../core/log.ts';
import { formatStatusLine } from '../../app/status.ts';
import { asCdrflowError } from '../../core/errors.ts';
import { signalStartedServers } from '../../app/infra.ts';
import { stopRequests } from '../signals.ts';
import { quote, terminalLines } from '../../core/input-limits.ts';
import { DEFAULT_PORT_BASE, PORT_OFFSETS } from '../../core/local-endpoints.ts';


const usage = `Usage: cdrflow start [--config FILE] [--demo] [--rate N]

Runs the whole pipeline in one process: the configured pull connectors (Tencent CCC, TRTC), the push receiver
(Huawei PrivateNumber, Alibaba LVMS), the exactly-once normalize service and the ClickHouse sink.
With no configuration: the local Kafka + schema registry (started if not running, stopped again on exit) and the
embedded ClickHouse in .data/clickhouse.

Options:
  --config FILE   YAML or JSON (see "Configuration reference" in README.md); environment variables override it
  --demo          also run the four vendor simulators with steady traffic, connectors and receiver pointed at them
  --rate N        demo: calls per second over all four vendors (default ${DEMO_CALLS_PER_SECOND.default}, at most ${DEMO_CALLS_PER_SECOND.max})

While it runs: a status line on stderr every few seconds; ops port on 127.0.0.1 (default port base + ${PORT_OFFSETS.ops} = ${DEFAULT_PORT_BASE + PORT_OFFSETS.ops}):
/healthz /readyz /metrics /status and POST /sql (read-only) — \`cdrflow sql\` and \`cdrflow status\` use it.
Logs are JSON lines on stdout (to .data/logs/start.log when stdout is a terminal, its warnings also on stderr: as
text on a terminal, LOG_FORMAT=json keeps them JSON); --log-level or LOG_LEVEL.
Ctrl-C (SIGINT) or SIGTERM: stop intake, finish the normalize transaction, flush the sink, commit, stop what it started;
during start-up: start nothing further (no intake), stop what started; exit 0. A second one exits at once without a
clean shutdown, 130 / 143.
Exit status: 0 stopped cleanly; 78 a setting it cannot use (a port another process holds, a data directory in use);
64 usage; 1 could not start.`;

function parseArgs(args: string[]): { config: string | undefined; demo: boolean; rate: number | undefined } {
  const { values } = parseFlags(args, { config: { type: 'string' }, demo: { type: 'boolean' }, rate: { type: 'string' } });
  // The flag's own limit, as a usage error: past it, the configuration check refused demo.callsPerSecond (exit 78).
  const expected = `a positive number of calls per second, at most ${DEMO_CALLS_PER_SECOND.max}`;
  const rate = values.rate === undefined ? undefined : positiveNumber('--rate', values.rate, expected);
  if (rate !== undefined && rate > DEMO_CALLS_PER_SECOND.max) throw new UsageError(`--rate needs ${expected}, got ${quote(values.rate!)}`);
  const demo = values.demo ?? false;
  if (rate !== undefined && !demo) throw new UsageError('--rate applies to --demo only');
  return { config: values.config, demo, rate };
}

/** A terminal shows the status line; the JSON log then goes to a file next to the data (warnings also to stderr). */
const START_LOG_FILE = join(REPO_ROOT, '.data', 'logs', 'start.log');

export const command: Command = {
  name: 'start',
  summary: 'run the whole pipeline in one process (--demo: with the four vendor simulators)',
  usage,
  logTarget: () => (process.stdout.isTTY ? { file: START_LOG_FILE } : 'stdout'),
  async run(args) {
    const flags = parseArgs(args);
    const config = loadCommandConfig({
      file: flags.config,
      wholePipeline: true,
      overrides: (doc) => {
        if (flags.rate !== undefined) {
          const demo = (doc['demo'] ??= {}) as Record<string, unknown>;
          demo['callsPerSecond'] = flags.rate;
        }
      },
    });
    if (!flags.demo && !config.connectors['tencent-ccc'] && !config.connectors['tencent-trtc'] && !config.receiver) {
      console.error('cdrflow start: no vendor is configured (connectors.tencent-ccc / connectors.tencent-trtc / receiver): only normalize and the sink run. Try --demo.');
    }
    // One job per ops port (and per embedded data directory): a second one would fight over both.
    // A port held by something else is refused below, naming ops.port.
    const running = await findRunningJob(endpoints(config).opsPort);
    if (running) {
      console.error(`cdrflow start: a cdrflow job already answers on ${running} (see \`cdrflow status\`); stop it first or set ops.port / CDRFLOW_OPS_PORT`);
      // The ops port is taken, by a job this time: the same exit as for any other holder of it.
      return EXIT_CONFIG;
    }
    const say = (msg: string) => process.stderr.write(`cdrflow: ${msg}\n`);
    const log = logger('start');
    say(`JSON logs → ${process.stdout.isTTY ? START_LOG_FILE : 'stdout'}`);

    // Shutdown always ends: whatever still runs after a stop request (a stuck query, a broker that never answers), the
    // process exits non-zero after shutdown.hardDeadlineSec, having signalled only the servers it started.
    let deadline: NodeJS.Timeout | undefined;
    const armDeadline = () => {
      deadline ??= setTimeout(() => {
        const pids = signalStartedServers();
        const servers = pids.length > 0 ? `; sent SIGTERM to the local servers it started (PIDs ${pids.join(', ')})` : '';
        say(`shutdown did not end within ${config.shutdown.hardDeadlineSec}s (shutdown.hardDeadlineSec): exiting with code 1${servers}`);
        log('error', 'shutdown.deadline', { hardDeadlineSec: config.shutdown.hardDeadlineSec, signalledPids: pids });
        exitProcess(1);
      }, config.shutdown.hardDeadlineSec * 1000).unref();
    };

    // Until the job runs, a stop request cuts start-up short (app/job.ts: intake never starts, what started stops).
    let starting = true;
    const cancelStart = new AbortController();
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const stopRequest = stopRequests({
      onStop: (signal) => {
        armDeadline();
        if (starting) {
          say(`${signal}: stopping start-up; what has started is stopped again and intake does not start (Ctrl-C again to force)`);
          cancelStart.abort();
        }
        wake();
      },
      onForce: (signal) => {
        const pids = signalStartedServers();
        const servers = pids.length > 0 ? `; sent SIGTERM to the local servers it started (PIDs ${pids.join(', ')})` : '';
        say(`${signal} again: exiting without a clean shutdown${servers}`);
        exitProcess(signalExit(signal));
      },
    });

    let job;
    try {
      job = await startMainJob(config, { demo: flags.demo, log, say, cancel: cancelStart.signal });
    } catch (err) {
      if (err instanceof StartCancelled) {
        say(`stopped cleanly (${err.message})`);
        log('info', 'start.stopped', { code: 0, during: 'start-up' });
        clearTimeout(deadline);
        setTimeout(() => exitProcess(0), 2_000).unref();
        return 0;
      }
      // A setting the job cannot use (a port in use, a data directory that is a file) is the user's to change: its
      // one line names the setting and what to do. Anything else is reported with its kind.
      const setting = settingExit(err);
      if (setting) {
        console.error(`cdrflow start: ${setting.message}`);
        return setting.code;
      }
      const e = asCdrflowError(err);
      console.error(`cdrflow start: could not start (${e.kind}): ${terminalLines(e.message)}`);
      return 1;
    }
    starting = false;
    // The PID is this process's own: `npx cdrflow start` runs it under npm and a shell, which do not pass a signal on.
    say(`running${flags.demo ? ' (demo)' : ''} as PID ${process.pid}; ops on ${job.opsUrl} (/metrics /status /sql); Ctrl-C to stop`);

    let timer: NodeJS.Timeout | undefined;
    let shuttingDown = false;
    if (config.ops.statusIntervalSec > 0) {
      let busy = false;
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        job
          .status()
          .then((s) => {
            if (!shuttingDown) process.stderr.write(formatStatusLine(s) + '\n');
          })
          .catch((err: unknown) => log('warn', 'status.failed', { error: String(err) }))
          .finally(() => (busy = false));
      }, config.ops.statusIntervalSec * 1000);
    }

    const outcome = await Promise.race([woken.then(() => 'signal' as const), job.failed.catch((err: unknown) => err)]);
    armDeadline();
    if (timer) clearInterval(timer);
    shuttingDown = true;
    let code = 0;
    if (outcome !== 'signal') {
      const e = asCdrflowError(outcome);
      console.error(`cdrflow start: ${terminalLines(e.message)}`);
      code = 1;
    } else say(`${stopRequest.received}: stopping intake, draining, flushing the sink (Ctrl-C again to force)`);
    await job.stop();
    if (code === 0) {
      // The last figures after the final flush, so the user sees what was kept.
      say('stopped cleanly');
    }
    log('info', 'start.stopped', { code });
    clearTimeout(deadline);
    // A client library that leaves a timer or socket behind must not keep a stopped job alive. Through exitProcess: a
    // status line's query begun before the stop can still be running in the embedded engine.
    setTimeout(() => exitProcess(code), 2_000).unref();
    return code;
  },
};
