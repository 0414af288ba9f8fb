// Push receiver throughput and latency at a fixed offered load, next to a bare node:http server that only reads the
// body and answers 200, in the same run with the same client and payloads (so the ratio survives other machines).
// Scenarios, each server in its own child process (the load generator must not share its event loop):
//   bare           node:http, read body, 200
//   receiver-mem   the real receiver (X-AKSK check, parse, byte-exact split, envelopes) with an in-memory sink
//   receiver-kafka the real receiver answering after Kafka acks=all (Avro via the schema registry)
// Open loop: request i is due at t0 + i/rate whatever earlier answers did; latency is measured from the due time,
// so a server that falls behind shows it (no coordinated omission). Then a closed-loop burst measures the most the
// Kafka-backed receiver sustains. Run alone: node bin/run-ts.mjs bench/suites/receiver.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, Agent } from 'node:http';
import { createInterface } from 'node:readline';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import { buildAuthHeaders } from '../../connectors/huawei-privatenumber/aksk.ts';

const APP = { appKey: 'benchApp', appSecret: 'benchSecret' };
const PATH = '/huawei/privatenumber/fee';
const OFFERED_RPS = Number(process.env['BENCH_RECEIVER_RPS'] ?? 200);
const BATCH = Number(process.env['BENCH_RECEIVER_BATCH'] ?? 25);
const DURATION_S = Number(process.env['BENCH_RECEIVER_SECONDS'] ?? 10);
const BURST_REQUESTS = Number(process.env['BENCH_RECEIVER_BURST'] ?? 2000);
const BURST_CONCURRENCY = Number(process.env['BENCH_RECEIVER_CONCURRENCY'] ?? 64);
const SELF = fileURLToPath(import.meta.url);
const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url));

type Mode = 'bare' | 'receiver-mem' | 'receiver-kafka';

// ---------- server side (child process) ----------

async function serve(mode: Mode): Promise<void> {
  let stop: () => Promise<void>;
  let port: number;
  if (mode === 'bare') {
    const server = createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}'));
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    stop = () => new Promise<void>((r) => server.close(() => r()));
  } else {
    const { startReceiver } = await import('../../connectors/push-vendors.ts');
    const { silentLog } = await import('../../core/log.ts');
    // The run's topics share its prefix and go when the server stops (bench/broker-cleanup.ts).
    const prefix = `bench_${Date.now().toString(36)}`;
    const topic = `${prefix}.raw.huawei`;
    let sink;
    let closeSink = async () => {};
    if (mode === 'receiver-mem') {
      let stored = 0;
      sink = { publish: async (e: unknown[]) => void (stored += e.length) };
    } else {
      const { kafkaEnvelopeSink } = await import('../../connectors/receiver/kafka-sink.ts');
      const { createKafka } = await import('../../core/kafka.ts');
      const { createRegistry } = await import('../../core/avro.ts');
      const { endpoints, loadAppConfig } = await import('../../app/config.ts');
      const ends = endpoints(loadAppConfig());
      const { cleanUpRun } = await import('../broker-cleanup.ts');
      const kafka = createKafka({ ...ends.kafka, clientId: 'cdrflow-bench-receiver' });
      const k = await kafkaEnvelopeSink(kafka, createRegistry(ends.registryUrl), [topic]);
      sink = k.sink;
      closeSink = async () => {
        await k.close();
        await cleanUpRun(kafka, prefix, 'receiver');
      };
    }
    const receiver = await startReceiver(
      { port: 0, huawei: { apps: [APP], topics: { fee: topic, events: `${topic}.events` } } },
      { sink, log: silentLog },
    );
    port = receiver.port;
    stop = async () => {
      await receiver.stop();
      await closeSink();
    };
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  await new Promise<void>((r) => process.once('SIGTERM', () => r()));
  await stop();
  process.exit(0);
}

// ---------- load side (parent) ----------

interface Child {
  port: number;
  proc: ChildProcess;
}

/** A server of `mode` in its own process (the pipeline benchmark's bare baseline uses it too). */
export async function startChild(mode: Mode, env: NodeJS.ProcessEnv): Promise<Child> {
  const proc = spawn(process.execPath, [RUN_TS, SELF, '--serve', mode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    proc.once('exit', (code) => reject(new Error(`bench server (${mode}) exited with ${code} before listening`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, proc };
}

export async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.proc.once('exit', () => r()));
  child.proc.kill('SIGTERM');
  await exited;
}

function bodies(count: number): string[] {
  const gen = new HuaweiFeeGenerator({ seed: 4242, appKey: APP.appKey });
  return Array.from({ length: count }, () => JSON.stringify({ eventType: 'fee', feeLst: gen.batch(BATCH) }));
}

function post(agent: Agent, port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1', port, path: PATH, method: 'POST', agent,
        headers: { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(body), ...buildAuthHeaders(APP.appKey, APP.appSecret) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

async function openLoop(port: number, payloads: string[]) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const total = Math.round(OFFERED_RPS * DURATION_S);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const t0 = performance.now() + 50;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i / OFFERED_RPS) * 1000;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      post(agent, port, payloads[i % payloads.length]!).then(
        (status) => {
          latencies.push(performance.now() - due);
          statuses[status] = (statuses[status] ?? 0) + 1;
        },
        () => void (statuses['error'] = (statuses['error'] ?? 0) + 1),
      ),
    );
  }
  await Promise.all(pending);
  const elapsedS = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const ok = statuses['200'] ?? 0;
  return {
    offered_requests_per_s: OFFERED_RPS,
    offered_records_per_s: OFFERED_RPS * BATCH,
    requests: total,
    statuses,
    achieved_records_per_s: round((ok * BATCH) / elapsedS, 0),
    latency_ms: { p50: round(percentile(latencies, 50)), p90: round(percentile(latencies, 90)), p99: round(percentile(latencies, 99)), max: round(latencies.at(-1) ?? NaN) },
  };
}

async function closedLoop(port: number, payloads: string[], requests = BURST_REQUESTS) {
  const agent = new Agent({ keepAlive: true, maxSockets: BURST_CONCURRENCY });
  let next = 0;
  let ok = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: BURST_CONCURRENCY }, async () => {
      while (next < requests) {
        const i = next++;
        const start = performance.now();
        const status = await post(agent, port, payloads[i % payloads.length]!).catch(() => 0);
        latencies.push(performance.now() - start);
        if (status === 200) ok++;
      }
    }),
  );
  const elapsedS = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    concurrency: BURST_CONCURRENCY,
    requests,
    ok,
    records_per_s: round((ok * BATCH) / elapsedS, 0),
    latency_ms: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
  };
}

/** Kafka + registry: the configured ones, else a lease on the local stack (started if needed, stopped if we started it). */
async function kafkaEnv(): Promise<{ env: NodeJS.ProcessEnv; release: () => Promise<void>; where: string }> {
  if (process.env['KAFKA_BROKERS'] && process.env['SCHEMA_REGISTRY_URL']) {
    return { env: process.env, release: async () => {}, where: process.env['KAFKA_BROKERS'] };
  }
  const { acquireForTests } = await import('../../infra/local/stack.ts');
  const { loadAppConfig } = await import('../../app/config.ts');
  const lease = await acquireForTests(loadAppConfig().localInfra.portBase, (m) => console.error(`[bench infra] ${m}`));
  return {
    env: { ...process.env, KAFKA_BROKERS: lease.endpoints.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: lease.endpoints.schemaRegistryUrl },
    release: lease.release,
    where: `local stack ${lease.endpoints.kafkaBrokers.join(',')}`,
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const payloads = bodies(200);
  const kafka = await kafkaEnv();
  const results: Record<string, unknown> = {};
  try {
    for (const mode of ['bare', 'receiver-mem', 'receiver-kafka'] as const) {
      const child = await startChild(mode, kafka.env);
      try {
        // Warm-up: JIT, keep-alive sockets, schema registration, producer metadata.
        await closedLoop(child.port, payloads, 300).catch(() => undefined);
        const open = await openLoop(child.port, payloads);
        results[mode] = mode === 'receiver-kafka' ? { open_loop: open, closed_loop_max: await closedLoop(child.port, payloads) } : { open_loop: open };
      } finally {
        await stopChild(child);
      }
    }
  } finally {
    await kafka.release();
  }
  return {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    kafka: kafka.where,
    batch_records: BATCH,
    duration_s: DURATION_S,
    note: 'records/s counts records in 200-answered pushes; latency from the scheduled send time (open loop)',
    ...results,
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const serveAt = process.argv.indexOf('--serve');
  if (serveAt !== -1) await serve(process.argv[serveAt + 1] as Mode);
  else console.log(JSON.stringify(await run(), null, 2));
}
