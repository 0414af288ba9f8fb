// ClickHouse sink throughput per insert format, on the embedded engine (or CLICKHOUSE_URL): rows/s for encoding alone
// and for encode + insert of one flush (BENCH_SINK_ROWS rows, default 50,000 = the default flushRows), median of
// several rounds, with ratios against JSONEachRow measured in the same run. Rows are synthetic CDRs with legs, IVR
// keys, extras and hostile text (sinks/clickhouse/fixtures/sample-cdrs.ts). `render_tsv` compares the render thread's
// two ways to a packed TabSeparated line per row: decode + render, and the Avro -> TSV fast path; `buffered_rows` the
// V8 heap a rendered row holds while it waits in the sink's buffer.
// With BENCH_E2E=1 it also measures the whole pipeline on the local Kafka + registry: raw envelopes published, then
// normalize and sink in this process until every call is in ClickHouse (records/s from the first raw record read).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../../core/clickhouse.ts';
import { endpoints, loadAppConfig } from '../../app/config.ts';
import { cdrObject, cdrTsvLine, cdrValues, INSERT_FORMATS, type InsertFormat } from '../../sinks/clickhouse/rows.ts';
import { insertCdrs, packRows, type PositionedCdr } from '../../sinks/clickhouse/insert.ts';
import { LineWriter, TsvTranscoder } from '../../sinks/clickhouse/avro-tsv.ts';
import { avroType, type ReaderCodec } from '../../core/avro.ts';
import { renderBatch, unpackBatch } from '../../sinks/clickhouse/render.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { migrate } from '../../sinks/clickhouse/migrations.ts';
import { sampleCdr } from '../../sinks/clickhouse/fixtures/sample-cdrs.ts';

const ROWS = Number(process.env['BENCH_SINK_ROWS'] ?? 50_000);
const ROUNDS = Number(process.env['BENCH_SINK_ROUNDS'] ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function encodeOnly(format: InsertFormat, rows: PositionedCdr[]): number {
  let bytes = 0;
  for (const r of rows) {
    if (format === 'TabSeparated') bytes += cdrTsvLine(r.cdr, r.at).length;
    else if (format === 'JSONCompactEachRow') bytes += JSON.stringify(cdrValues(r.cdr, r.at)).length + 1;
    else bytes += JSON.stringify(cdrObject(r.cdr, r.at)).length + 1;
  }
  return bytes;
}

async function insertFormats(client: ClickHouseClient, database: string) {
  await migrate(client, { database });
  const rows: PositionedCdr[] = Array.from({ length: ROWS }, (_, i) => ({ cdr: sampleCdr(i), at: { topic: 'bench', partition: 0, offset: i } }));
  const results: Record<string, { encode_rows_per_s: number; insert_rows_per_s: number; body_bytes: number; insert_ms: number }> = {};
  let token = 0;
  // Warm-up: first inserts pay for table and parser setup.
  for (const format of INSERT_FORMATS) await insertCdrs(client, `${database}.cdr`, rows.slice(0, 1000), format, `warm:${token++}`);
  // Rounds interleave the formats, so a busy machine slows every format alike instead of whichever ran last.
  const encode = new Map<InsertFormat, number[]>(INSERT_FORMATS.map((f) => [f, []]));
  const insert = new Map<InsertFormat, number[]>(INSERT_FORMATS.map((f) => [f, []]));
  const bytes = new Map<InsertFormat, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const format of INSERT_FORMATS) {
      let t = performance.now();
      bytes.set(format, encodeOnly(format, rows));
      encode.get(format)!.push(performance.now() - t);
      await client.command({ query: `TRUNCATE TABLE ${database}.cdr` });
      await client.command({ query: `TRUNCATE TABLE ${database}.cdr_legs` });
      t = performance.now();
      await insertCdrs(client, `${database}.cdr`, rows, format, `bench:${format}:${token++}`);
      insert.get(format)!.push(performance.now() - t);
      const count = Number((await (await client.query({ query: `SELECT count() AS c FROM ${database}.cdr`, format: 'JSONEachRow' })).json<{ c: string }>())[0]!.c);
      if (count !== ROWS) throw new Error(`${format}: ${count} rows stored, expected ${ROWS}`);
    }
  }
  for (const format of INSERT_FORMATS) {
    results[format] = {
      encode_rows_per_s: Math.round(ROWS / (median(encode.get(format)!) / 1000)),
      insert_rows_per_s: Math.round(ROWS / (median(insert.get(format)!) / 1000)),
      body_bytes: bytes.get(format)!,
      insert_ms: Math.round(median(insert.get(format)!)),
    };
  }
  const baseline = results['JSONEachRow']!.insert_rows_per_s;
  const ratios = Object.fromEntries(Object.entries(results).map(([f, r]) => [f, +(r.insert_rows_per_s / baseline).toFixed(2)]));
  const fastest = Object.entries(results).sort((a, b) => b[1].insert_rows_per_s - a[1].insert_rows_per_s)[0]![0];
  return { rows_per_insert: ROWS, rounds: ROUNDS, formats: results, insert_ratio_vs_JSONEachRow: ratios, fastest };
}

async function endToEnd(client: ClickHouseClient, database: string) {
  const { createKafka } = await import('../../core/kafka.ts');
  const { createRegistry } = await import('../../core/avro.ts');
  const { loadE2eCases, multiply } = await import('../../transforms/normalize/service/fixtures/e2e.ts');
  const { parseNormalizeServiceConfig, startNormalizeService } = await import('../../transforms/normalize/service/index.ts');
  const { parseSinkConfig, startClickHouseSink } = await import('../../sinks/clickhouse/index.ts');
  const { createStageTopics, publishCases, stageNames } = await import('../../sinks/clickhouse/fixtures/pipeline.ts');
  const copies = Number(process.env['BENCH_E2E_COPIES'] ?? 300);
  const cases = multiply(loadE2eCases(), copies);
  const good = cases.filter((c) => c.expected !== null).length;
  const ends = endpoints(loadAppConfig());
  const kafka = createKafka({ ...ends.kafka, clientId: 'bench-e2e' });
  const registry = createRegistry(ends.registryUrl);
  const names = stageNames('bench');
  await createStageTopics(kafka, names);
  const t0 = performance.now();
  await publishCases(kafka, registry, names, cases);
  const publishMs = performance.now() - t0;
  const t1 = performance.now();
  const normalize = await startNormalizeService(
    parseNormalizeServiceConfig({ groupId: names.normalizeGroup, inputTopics: Object.values(names.raw), outputTopic: names.normalized, deadLetterTopic: names.deadLetter, instanceId: 'bench' }),
    { kafka, registry },
  );
  const sink = await startClickHouseSink(
    parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database }),
    { kafka, registry, clickhouse: client },
  );
  const deadline = Date.now() + 600_000;
  let stored = 0;
  while (Date.now() < deadline) {
    stored = Number((await (await client.query({ query: `SELECT uniqExact(cdr_id) AS c FROM ${database}.cdr`, format: 'JSONEachRow' })).json<{ c: string }>())[0]!.c);
    if (stored >= good) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const pipelineMs = performance.now() - t1;
  const normalizedAt = normalize.stats;
  await normalize.stop();
  await sink.stop();
  if (stored < good) throw new Error(`pipeline stored ${stored} of ${good} calls within the deadline`);
  return {
    raw_records: cases.length,
    calls: good,
    publish_records_per_s: Math.round(cases.length / (publishMs / 1000)),
    end_to_end_records_per_s: Math.round(cases.length / (pipelineMs / 1000)),
    end_to_end_seconds: +(pipelineMs / 1000).toFixed(1),
    normalize_transactions: normalizedAt.transactions,
    sink_inserts: sink.stats.inserts,
    note: 'includes consumer-group joins of both stages (a few seconds) in the elapsed time',
  };
}

/**
 * The render thread's work per row, both ways, interleaved: registry-framed Avro bodies -> TabSeparated lines packed
 * in one buffer, by decoding + rendering (the slow path) and by the fast path (avro-tsv.ts). CPU of the process
 * (GC threads included) per row, median of the rounds.
 */
function renderPaths() {
  const type = avroType(SCHEMA_FILES.normalized);
  const fast = TsvTranscoder.compile(type);
  if (!fast) throw new Error('the fast path does not cover the normalized schema');
  const bodies = Array.from({ length: ROWS }, (_, i) => type.toBuffer(sampleCdr(i)));
  const at = { topic: 'cdr.normalized', partition: 0, offset: 0 };
  const slow: number[] = [];
  const quick: number[] = [];
  const cpuPerRow = (fn: () => void) => {
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    return (d.user + d.system) / ROWS;
  };
  for (let round = 0; round < ROUNDS + 1; round++) {
    const s = cpuPerRow(() => packRows(bodies.map((b) => cdrTsvLine(type.fromBuffer(b) as NormalizedCdr, at))));
    const f = cpuPerRow(() => {
      const out = new LineWriter(1024 * ROWS);
      for (const b of bodies) if (!fast.transcode(b, 0, at, out)) throw new Error('fast path handed back a sample row');
    });
    // The first round warms both up.
    if (round > 0) {
      slow.push(s);
      quick.push(f);
    }
  }
  return {
    rows: ROWS,
    decode_render_pack_cpu_us_per_row: +median(slow).toFixed(1),
    fast_path_cpu_us_per_row: +median(quick).toFixed(1),
    ratio: +(median(slow) / median(quick)).toFixed(1),
  };
}

/**
 * What a rendered row costs the heap while it waits in the sink's buffer (up to flushRows of them per partition):
 * bytes of V8 heap held per row, after full GCs, by a rendered batch of ROWS as the render thread sends it (its
 * columns) and by the rows the main thread makes of it (unpackBatch, what the buffer holds). Objects held that long
 * are copied and marked by every collection they survive. Median of ROUNDS, after a warm-up round.
 */
async function bufferedRowHeap() {
  const gc = runInNewContext('gc') as () => void;
  const type = avroType(SCHEMA_FILES.normalized);
  const values = Array.from({ length: ROWS }, (_, i) => Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), type.toBuffer(sampleCdr(i))]));
  const fast = TsvTranscoder.compile(type);
  const reader = { reader: type, readsDirectly: () => true } as unknown as ReaderCodec<NormalizedCdr>;
  const messages = values.map((value, offset) => ({ topic: 'cdr.normalized', partition: 0, offset, value }));
  const heap = () => {
    for (let i = 0; i < 3; i++) gc();
    return process.memoryUsage().heapUsed;
  };
  const columns: number[] = [];
  const rows: number[] = [];
  const kept: unknown[][] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const base = heap();
    let withBatch = 0;
    // Once this returns, only the rows keep the batch.
    const rendered = async () => {
      const batch = await renderBatch(reader, messages, 'TabSeparated', fast);
      withBatch = heap();
      return unpackBatch(batch);
    };
    // Every round's rows stay held until the end: each round's growth is its own rows alone.
    kept.push(await rendered());
    const withRows = heap();
    if (round > 0) {
      columns.push((withBatch - base) / ROWS);
      rows.push((withRows - base) / ROWS);
    }
  }
  if (kept.some((held) => held.length !== ROWS)) throw new Error('unpackBatch lost rows');
  return { rows: ROWS, heap_bytes_per_row_batch_columns: Math.round(median(columns)), heap_bytes_per_row_buffered_rows: Math.round(median(rows)) };
}

export async function run(): Promise<Record<string, unknown>> {
  const target = endpoints(loadAppConfig()).clickhouse;
  const dir = target.kind === 'embedded' ? mkdtempSync(join(tmpdir(), 'cdrflow-bench-sink-')) : undefined;
  const client = await createClickHouse(dir ? { kind: 'embedded', dataDir: dir, database: 'default' } : target);
  const database = `bench_sink_${Date.now().toString(36)}`;
  try {
    setFlagsFromString('--expose-gc');
    const render = { ...renderPaths(), buffered_rows: await bufferedRowHeap() };
    const formats = await insertFormats(client, database);
    const e2e = process.env['BENCH_E2E'] === '1' ? await endToEnd(client, `${database}_e2e`) : 'skipped (BENCH_E2E=1 runs it against the local Kafka + registry)';
    return { engine: dir ? 'embedded chdb' : 'server', render_tsv: render, ...formats, end_to_end: e2e };
  } finally {
    await client.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => undefined);
    await client.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
