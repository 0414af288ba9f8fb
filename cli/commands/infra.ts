// `cdrflow infra up|status|down`: the local Kafka + schema registry this project runs against when no external
// servers are configured (see infra/local/).
import type { Command } from '../command.ts';
import { ExitError, UsageError } from '../command.ts';
import { integer, parseFlags } from '../args.ts';
import { loadCommandConfig, settingExit } from '../app-config.ts';
import { down, status, up } from '../../infra/local/stack.ts';
import { quote, terminalReason } from '../../core/input-limits.ts';
import { signalExit } from '../../core/exit-codes.ts';
import { stopRunChildren } from '../../infra/local/processes.ts';
import { stopRequests } from '../signals.ts';
import { DEFAULT_PORT_BASE, PORT_OFFSETS } from '../../core/local-endpoints.ts';
import type { ServerStatus, UpResult } from '../../infra/local/stack.ts';

const usage = `Usage: cdrflow infra <up|status|down> [--port-base N] [--force]

  up       download the jars once (Maven), start Kafka (KRaft) and Apicurio Registry, wait until both answer
  status   print each server with PID, port, memory and health; exit 1 unless both are healthy
  down     stop the servers named by this stack's PID files (SIGTERM, then SIGKILL after 20 s)

Options:
  --port-base N   stack to act on (default: localInfra.portBase of --config, CDRFLOW_PORT_BASE, or ${DEFAULT_PORT_BASE}; the tests
                  use 29000)
  --config FILE   the pipeline's YAML or JSON (its localInfra.portBase)
                  Kafka = N+${PORT_OFFSETS.kafka}, controller = N+${PORT_OFFSETS.kafkaController}, registry = N+${PORT_OFFSETS.registry} (health N+${PORT_OFFSETS.registryManagement})
  --force         down: stop even while a test run or a running \`cdrflow start\` holds a lease on the stack

State lives in .data/infra-<base>/ (data, logs, PID files); downloads in .cache/ and ~/.m2.
Ctrl-C or SIGTERM during \`up\` stops the download or extraction in progress (nothing partial stays in .cache/) and
exits 130 / 143.`;

function parse(args: string[]): { action: string; base: number; force: boolean } {
  const { values, positionals } = parseFlags(args, { 'port-base': { type: 'string' }, force: { type: 'boolean' }, config: { type: 'string' } }, { maxPositionals: 1 });
  const [action] = positionals;
  const base = values['port-base'] === undefined ? loadCommandConfig({ file: values.config }).localInfra.portBase : integer('--port-base', values['port-base'], { min: 1024, max: 65000 });
  if (action === undefined) throw new UsageError('missing action');
  // Only `down` has something to force: taken silently elsewhere, it suggested that `up` or `status` would force something.
  if (values.force && action !== 'down') throw new UsageError(`--force applies to \`infra down\` only`);
  return { action, base, force: values.force ?? false };
}

function printStatus(servers: ServerStatus[]): void {
  for (const s of servers) {
    const state = s.healthy ? 'healthy' : s.pid === undefined ? 'stopped' : 'UNHEALTHY';
    const pid = s.pid === undefined ? '-' : String(s.pid);
    const rss = s.rssMiB === undefined ? '' : `  rss ${s.rssMiB} MiB`;
    // The detail holds what answered on the port (a cluster id, a client's error, the registry's setting): escaped and
    // cut, whatever holds the port.
    console.log(`${s.name.padEnd(8)}  ${state.padEnd(9)}  pid ${pid.padEnd(7)}  port ${s.port}${rss}  ${terminalReason(s.detail)}`);
  }
}

/**
 * `up`, stopped by SIGINT or SIGTERM: a download or extraction in progress (mvn, tar) is ended by its PID and its
 * temporary folder removed before the exit with the signal's code; with none in progress it exits at once. The servers
 * run detached and outlive the CLI either way (`infra down` stops them).
 */
async function upUntilStopped(base: number, log: (msg: string) => void): Promise<UpResult> {
  const requests = stopRequests({
    onStop: (signal) => {
      if (stopRunChildren(signal) === 0) process.exit(signalExit(signal));
    },
    onForce: (signal) => process.exit(signalExit(signal)),
  });
  try {
    return await up(base, log);
  } catch (err) {
    const signal = requests.received;
    if (signal) throw new ExitError(signalExit(signal), `stopped by ${signal}: the download in progress was stopped and nothing of it is left in the cache`);
    throw settingExit(err) ?? err;
  } finally {
    requests.dispose();
  }
}

export const command: Command = {
  name: 'infra',
  summary: 'start, inspect or stop the local Kafka + schema registry (up | status | down)',
  usage,
  async run(args) {
    const { action, base, force } = parse(args);
    const log = (msg: string) => console.log(`infra: ${msg}`);
    switch (action) {
      case 'up': {
        const t0 = Date.now();
        const r = await upUntilStopped(base, log);
        const started = r.startedKafka || r.startedRegistry;
        console.log(`infra: stack ${base} ${started ? `started in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'was already running'}`);
        console.log(`KAFKA_BROKERS=${r.endpoints.kafkaBrokers.join(',')}`);
        console.log(`SCHEMA_REGISTRY_URL=${r.endpoints.schemaRegistryUrl}`);
        return 0;
      }
      case 'status': {
        const servers = await status(base);
        printStatus(servers);
        return servers.every((s) => s.healthy) ? 0 : 1;
      }
      case 'down': {
        const r = await down(base, { force });
        if (r.stopped.length === 0) console.log(`infra: stack ${base}: nothing was running`);
        for (const s of r.stopped) console.log(`infra: ${s.name} PID ${s.pid}: ${s.outcome}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown action ${quote(action)}`);
    }
  },
};
