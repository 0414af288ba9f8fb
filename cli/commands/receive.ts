// `cdrflow receive`: runs the push receiver (Huawei PrivateNumber, Alibaba LVMS) against Kafka until SIGINT/SIGTERM,
// then stops intake, lets in-flight pushes finish and closes the producer.
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Command } from '../command.ts';
import { parseFlags, port } from '../args.ts';
import { untilSignal } from '../signals.ts';
import { startReceiver } from '../../connectors/push-vendors.ts';
import { loadCommandConfig, setIn, settingExit } from '../app-config.ts';
import { UsageError } from '../command.ts';
import { checkKafkaReachable, commandKafka } from '../kafka-access.ts';
import { endpoints } from '../../app/config.ts';
import { createRegistry } from '../../core/avro.ts';
import { startOpsServer } from '../../core/ops-server.ts';

const usage = `Usage: cdrflow receive [--config receiver.yaml] [--host H] [--port N] [--ops-port N]

Runs the HTTP receiver for push vendors. Every push is answered only after Kafka acknowledged its records.
  Huawei PrivateNumber  POST /huawei/privatenumber/fee and /huawei/privatenumber/event (X-AKSK, optional X-WSSE)
  Alibaba LVMS          POST /router/rest  method=alibaba.lvms.lvr.receivecallrecord (TOP-signed)

Options:
  --config FILE   the pipeline's YAML or JSON (as for \`cdrflow start\`): its "receiver" section (host, port,
                  bodyLimitBytes, timeouts, huawei{apps,...}, lvms{apps,...}) and where Kafka and the registry are
  --host H        listen address (default 127.0.0.1; use 0.0.0.0 behind a TLS-terminating proxy)
  --port N        listen port (default 8088)
  --ops-port N    also serve /metrics and /healthz on 127.0.0.1:N

Environment: the same table as \`start\`: CDRFLOW_HUAWEI_APPS / CDRFLOW_LVMS_APPS (JSON arrays of {appKey, appSecret[,
mode]}), CDRFLOW_RECEIVER_HOST / _PORT, KAFKA_BROKERS, SCHEMA_REGISTRY_URL (default: the local stack). Logs on stdout.

Exit status: 0 stopped by SIGINT / SIGTERM (in-flight pushes finished); 64 usage; 69 Kafka not reachable at start
(a short check, about a second); 78 config, or a --port / --ops-port another process holds; 1 error.`;

function parse(args: string[]) {
  const { values } = parseFlags(args, { config: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, 'ops-port': { type: 'string' } });
  const overrides: [string, unknown][] = [];
  if (values.host !== undefined) overrides.push(['host', values.host]);
  if (values.port !== undefined) overrides.push(['port', port('--port', values.port)]);
  return { config: values.config, overrides, opsPort: values['ops-port'] === undefined ? undefined : port('--ops-port', values['ops-port']) };
}

export const command: Command = {
  name: 'receive',
  summary: 'run the push receiver (Huawei PrivateNumber, Alibaba LVMS) into the raw topics',
  usage,
  logTarget: () => 'stdout',
  async run(args) {
    const opts = parse(args);
    const config = loadCommandConfig({ file: opts.config, overrides: (doc) => opts.overrides.forEach(([key, value]) => setIn(doc, ['receiver', key], value)) });
    if (!config.receiver) throw new UsageError('no receiver settings: give --config with a "receiver" section, or CDRFLOW_HUAWEI_APPS / CDRFLOW_LVMS_APPS');
    // One port for both would be refused by the second listen as "in use by another process": it is this one.
    if (opts.opsPort !== undefined && opts.opsPort !== 0 && opts.opsPort === config.receiver.port) {
      throw new UsageError(`--ops-port ${opts.opsPort} is the receiver's own port (--port / receiver.port): give each its own`);
    }
    const ends = endpoints(config);
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // Its limited warnings are summed up when the command ends, however it ends (commandKafka).
    const kafka = { client: await commandKafka({ ...ends.kafka, clientId: 'cdrflow-receiver' }), schemaRegistry: createRegistry(ends.registryUrl) };
    // The ops port first: a taken port is then refused before the receiver acknowledges a single push.
    let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
    const ops =
      opts.opsPort === undefined
        ? undefined
        : await startOpsServer(
            opts.opsPort,
            {
              metrics: registry,
              readiness: () => ({ ready: receiver !== undefined, components: { receiver: receiver ? 'running' : 'starting' } }),
              status: async () => ({ receiver: receiver?.url ?? null, inFlight: receiver?.metrics.inFlight.value() ?? 0 }),
              query: async () => {
                throw new Error('no ClickHouse in the receive command');
              },
            },
            { setting: '--ops-port' },
          ).catch((err: unknown) => {
            throw settingExit(err) ?? err;
          });
    try {
      await checkKafkaReachable(config);
      receiver = await startReceiver(config.receiver, { registry, kafka });
    } catch (err) {
      await ops?.close();
      throw settingExit(err) ?? err;
    }
    console.error(`cdrflow receive: listening on ${receiver.url}${ops ? `, metrics on http://127.0.0.1:${ops.port}/metrics` : ''}`);
    const signal = await untilSignal('receive');
    console.error(`cdrflow receive: ${signal}, finishing in-flight pushes`);
    await receiver.stop();
    await ops?.close();
    return 0;
  },
};
