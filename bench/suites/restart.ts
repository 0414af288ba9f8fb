// Restart-to-processing time of the normalize stage (`cdrflow run normalize` as a child process), 10 times each:
//   killed   — the predecessor was SIGKILLed (it never left the group: the group drops it after the session timeout)
//   baseline — the predecessor stopped cleanly (SIGTERM: it left the group, nothing to wait for)
// Each figure runs from spawning the new process to its first committed transaction (process start, registry,
// producer init, group join included). Needs Kafka + registry: KAFKA_BROKERS / SCHEMA_REGISTRY_URL, else the local
// stack on CDRFLOW_PORT_BASE (started if not running, left running).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry } from '../../core/avro.ts';
import { createKafka } from '../../core/kafka.ts';
import { endpoints, loadAppConfig } from '../../app/config.ts';
import { up } from '../../infra/local/stack.ts';
import { loadE2eCases, multiply } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { createStageTopics, publishCases, stageNames } from '../../sinks/clickhouse/fixtures/pipeline.ts';
import { startStage, type StageProcess } from '../../sinks/clickhouse/fixtures/stage-process.ts';
import { DEFAULT_SESSION_TIMEOUT_MS } from '../../core/kafka-streams.ts';

const ROUNDS = Number(process.env['CDRFLOW_BENCH_RESTART_ROUNDS'] ?? 10);

function summary(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { runs: sorted.length, median_ms: Math.round(median), worst_ms: sorted.at(-1)!, best_ms: sorted[0]!, all_ms: ms };
}

export async function run(): Promise<Record<string, unknown>> {
  const ends = endpoints(loadAppConfig());
  if (ends.local.kafka || ends.local.registry) await up(ends.local.base, (msg) => process.stderr.write(`bench restart: infra: ${msg}\n`));
  const kafka = createKafka({ ...ends.kafka, clientId: 'cdrflow-bench-restart' });
  const registry = createRegistry(ends.registryUrl);
  const names = stageNames('bench-restart');
  await createStageTopics(kafka, names);
  // A backlog that outlasts every round: tiny transactions, many records.
  await publishCases(kafka, registry, names, multiply(loadE2eCases(), 150));
  const work = mkdtempSync(join(tmpdir(), 'cdrflow-bench-restart-'));
  const config = {
    groupId: names.normalizeGroup,
    inputTopics: Object.values(names.raw),
    outputTopic: names.normalized,
    deadLetterTopic: names.deadLetter,
    instanceId: 'bench-0',
    maxMessagesPerTransaction: 2,
  };
  const spawnStage = () => startStage('normalize', config, work);
  const killed: number[] = [];
  const baseline: number[] = [];
  let current: StageProcess = spawnStage();
  try {
    await current.waitEvent('normalize.committed', 3, 120_000);
    for (let i = 0; i < ROUNDS * 2; i++) {
      const kill = i % 2 === 0;
      current.child.kill(kill ? 'SIGKILL' : 'SIGTERM');
      await current.exited;
      const t0 = Date.now();
      current = spawnStage();
      await current.waitEvent('normalize.committed', 1, 120_000);
      const ms = Date.now() - t0;
      (kill ? killed : baseline).push(ms);
      process.stderr.write(`bench restart: round ${Math.floor(i / 2) + 1} after ${kill ? 'SIGKILL' : 'SIGTERM'}: processing after ${ms} ms\n`);
      await current.waitEvent('normalize.committed', 3, 120_000);
    }
  } finally {
    current.child.kill('SIGTERM');
    await current.exited;
    rmSync(work, { recursive: true, force: true });
  }
  return {
    session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
    after_sigkill: summary(killed),
    baseline_after_clean_stop: summary(baseline),
  };
}
