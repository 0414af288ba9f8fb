// Backfill throughput of the Tencent CCC connector against its simulator's ceiling: the simulator enforces the
// vendor's 20 requests/s and PageSize <= 100, so at most 2,000 records/s can come out; the figure is the share of
// that ceiling reached end to end (SDK-signed HTTP → Avro envelope → Kafka acks=all → checkpoint per window).
// Needs Kafka + schema registry (KAFKA_BROKERS / SCHEMA_REGISTRY_URL, default the local stack: `cdrflow infra up`).
import { performance } from 'node:perf_hooks';
import { createKafka, readTopicToEnd } from '../../core/kafka.ts';
import { endpoints, loadAppConfig } from '../../app/config.ts';
import { createRegistry } from '../../core/avro.ts';
import { startCccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { createCccConnector } from '../../connectors/tencent-ccc/index.ts';
import { silentLog } from '../../core/log.ts';
import { cleanUpRun } from '../broker-cleanup.ts';

const HOURS = Number(process.env['BENCH_BACKFILL_HOURS'] ?? 12);
const CALLS_PER_HOUR = Number(process.env['BENCH_BACKFILL_CALLS_PER_HOUR'] ?? 6000);
const RATE = 20;
const PAGE = 100;

export async function run(): Promise<Record<string, unknown>> {
  const app = 1400000001;
  const sim = await startCccSimulator({ credentials: { AKIDbench: 'bench-key' }, sdkAppIds: [app], seed: 99, lateFraction: 0, rateLimitPerSecond: RATE });
  const to = Math.floor(Date.now() / 1000) - 2 * 86400;
  const from = to - HOURS * 3600;
  const records = sim.dataset.generateRange(from, to, HOURS * CALLS_PER_HOUR).length;
  // The run's topics share its prefix, and go when it ends (bench/broker-cleanup.ts).
  const prefix = `bench_${Date.now().toString(36)}`;
  const topics = { raw: `${prefix}.backfill.raw`, checkpoints: `${prefix}.backfill.checkpoints`, deadLetter: `${prefix}.backfill.dlq` };
  const ends = endpoints(loadAppConfig());
  const kafka = createKafka({ ...ends.kafka, clientId: 'cdrflow-bench-backfill' });
  const connector = createCccConnector(
    { secretId: 'AKIDbench', secretKey: 'bench-key', sdkAppIds: [app], ...sim.connection, topics, requestsPerSecond: RATE, pageSize: PAGE },
    { kafka, registry: createRegistry(ends.registryUrl), log: silentLog },
  );
  try {
    await connector.start(); // topics, producer, checkpoints: not part of the measured rate
    const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const t0 = performance.now();
    const summary = await connector.backfill({ tenant: String(app), from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, progressStream: devnull });
    const seconds = (performance.now() - t0) / 1000;
    const onTopic = (await readTopicToEnd(kafka, topics.raw)).size;
    const ceiling = RATE * PAGE;
    const rate = summary.records / seconds;
    return {
      records_in_range: records,
      records_published: summary.records,
      distinct_keys_on_topic: onTopic,
      windows: summary.windows,
      pages: summary.pages,
      retries: summary.retries,
      rate_limited_answers: sim.stats.errorCount('RequestLimitExceeded'),
      peak_requests_per_second_seen_by_simulator: sim.stats.peakRequestsPerSecond,
      elapsed_s: Number(seconds.toFixed(2)),
      requests_per_s: Number((summary.pages / seconds).toFixed(2)),
      records_per_s: Math.round(rate),
      ceiling_records_per_s: ceiling,
      share_of_ceiling: Number((rate / ceiling).toFixed(3)),
      /** Full pages possible for these records: what the request budget alone allows. */
      request_bound_share: Number((summary.records / (summary.pages * PAGE)).toFixed(3)),
    };
  } finally {
    await connector.close();
    await sim.stop();
    await cleanUpRun(kafka, prefix, 'backfill');
  }
}
