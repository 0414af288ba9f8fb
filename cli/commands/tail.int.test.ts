// `cdrflow tail` and `cdrflow dlq` as a user runs them (child processes) against the real Kafka and registry: raw
// envelopes and dead letters written the way the stages write them, read back decoded; and the warn line the one
// dead-letter writer logs for each.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import { AckedPublisher, ensureTopics } from '../../core/kafka.ts';
import { RawEnvelopePublisher, type RawEnvelope } from '../../core/envelope.ts';
import { DeadLetterWriter, deadLetterFor, deadLetterForPayload } from '../../core/dead-letter.ts';
import { TopicCodec } from '../../core/avro.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { partitionOfKey } from '../../core/partitioner.ts';
import { memoryLog } from '../../core/log.ts';

const CLI = fileURLToPath(new URL('../../bin/cdrflow.mjs', import.meta.url));

function cdrflow(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 90_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('cdrflow tail and dlq', () => {
  it('decode raw envelopes and dead letters (reason first, original decoded), summarise the DLQ, follow new records', async () => {
    const ns = uniqueName('tail');
    const env = { CDRFLOW_NAMESPACE: ns };
    const raw = `${ns}.cdr.raw.huawei-privatenumber`;
    const dlq = `${ns}.cdr.dlq`;
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, [{ topic: raw, partitions: 3 }, { topic: dlq, partitions: 3 }]);
    const publisher = new AckedPublisher(kafka);
    await publisher.connect();
    try {
      const envelope = (n: number): RawEnvelope => ({
        vendor: 'huawei-privatenumber',
        tenant_id: 'app-1',
        natural_key: `session-${n}`,
        received_at: new Date(Date.UTC(2026, 11, 1, 9, 0, n)),
        connector: 'test',
        mode: 'live',
        request_id: null,
        payload: JSON.stringify({ sessionId: `session-${n}`, callDuration: n * 10 }),
        payload_format: 'json',
        attributes: {},
      });
      await new RawEnvelopePublisher(registry, publisher).publish([envelope(1), envelope(2), envelope(3)], raw);

      // Dead letters as normalize writes them (the consumed envelope bytes) and as a poller does (a bare payload).
      const log = memoryLog();
      const writer = new DeadLetterWriter(registry, dlq, log);
      await writer.register();
      const consumed = await new TopicCodec(registry, raw, SCHEMA_FILES.rawEnvelope).encode(envelope(4));
      const fromStage = deadLetterFor(
        { topic: raw, partition: 1, offset: 7, key: Buffer.from('session-4'), value: consumed, timestamp: Date.now() },
        { kind: 'bad_record', message: 'callDuration is negative' },
        'normalize',
        { vendor: 'huawei-privatenumber', cdr_id: 'huawei-privatenumber:app-1:session-4' },
      );
      const fromPoller = deadLetterForPayload('{"no":"key"}', { kind: 'bad_record', message: 'record has no CallId' }, 'tencent-ccc-poller', { topic: `${ns}.cdr.raw.tencent-ccc`, vendor: 'tencent-ccc' });
      await writer.publish([fromStage, fromPoller], publisher);
      expect(log.entries.filter((e) => e.level === 'warn' && e.event === 'record.dead_lettered').map((e) => e.fields)).toEqual([
        expect.objectContaining({ reason: 'bad_record', stage: 'normalize', vendor: 'huawei-privatenumber', cdr_id: 'huawei-privatenumber:app-1:session-4', origin: `${raw}[1]@7` }),
        expect.objectContaining({ reason: 'bad_record', stage: 'tencent-ccc-poller', vendor: 'tencent-ccc', cdr_id: null, origin: `${ns}.cdr.raw.tencent-ccc[-1]@-1` }),
      ]);

      const tailDlq = cdrflow(['tail', dlq, '--from-beginning', '--format', 'json'], env);
      expect(tailDlq.status, tailDlq.stderr).toBe(0);
      const letters = lines(tailDlq.stdout).map((l) => JSON.parse(l) as { kind: string; value: Record<string, unknown> });
      expect(letters).toHaveLength(2);
      const stageLetter = letters.find((l) => l.value['stage'] === 'normalize')!;
      expect(stageLetter.kind).toBe('dead-letter');
      expect(Object.keys(stageLetter.value)[0]).toBe('reason');
      expect(stageLetter.value).toMatchObject({
        reason: 'bad_record',
        error: 'callDuration is negative',
        origin: { topic: raw, partition: 1, offset: 7 },
        original_kind: 'raw',
        original: { natural_key: 'session-4', payload: { sessionId: 'session-4', callDuration: 40 } },
      });
      expect(letters.find((l) => l.value['stage'] === 'tencent-ccc-poller')!.value).toMatchObject({ original_kind: 'json', original: { no: 'key' } });

      const tailRaw = cdrflow(['tail', raw, '--last', '2', '--format', 'json'], env);
      expect(tailRaw.status, tailRaw.stderr).toBe(0);
      const newest = lines(tailRaw.stdout).map((l) => JSON.parse(l) as { kind: string; value: { natural_key: string; payload: unknown } });
      expect(newest).toHaveLength(2);
      expect(newest.every((r) => r.kind === 'raw' && typeof r.value.payload === 'object')).toBe(true);

      const table = cdrflow(['tail', dlq, '--from-beginning', '--format', 'table'], env);
      expect(table.stdout).toMatch(/ bad_record {2}normalize {2}huawei-privatenumber {2}huawei-privatenumber:app-1:session-4 {2}\S+\[1\]@7 {2}callDuration is negative/);

      const summary = cdrflow(['dlq', '--json'], env);
      expect(summary.status, summary.stderr).toBe(0);
      const parsed = JSON.parse(summary.stdout) as { total: number; byReason: { reason: string; stage: string; vendor: string; count: number }[]; latest: unknown[] };
      expect(parsed.total).toBe(2);
      expect(parsed.byReason).toEqual(
        expect.arrayContaining([
          { reason: 'bad_record', stage: 'normalize', vendor: 'huawei-privatenumber', count: 1 },
          { reason: 'bad_record', stage: 'tencent-ccc-poller', vendor: 'tencent-ccc', count: 1 },
        ]),
      );
      expect(parsed.latest).toHaveLength(2);
      expect(cdrflow(['dlq'], env).stdout).toMatch(new RegExp(`^${dlq}: 2 dead letter\\(s\\)\\n\\nreason +stage +vendor +count\\n`));

      // --follow prints the newest N overall first (not N per partition: the three records sit in more than one),
      // then what arrives after it started, until interrupted.
      expect(new Set([1, 2, 3].map((n) => partitionOfKey(`session-${n}`, 3))).size).toBeGreaterThan(1);
      const newestAlone = lines(cdrflow(['tail', raw, '--last', '1', '--format', 'json'], env).stdout);
      expect(newestAlone).toHaveLength(1);
      const child = spawn(process.execPath, [CLI, 'tail', raw, '--follow', '--last', '1', '--format', 'json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      await waitFor(() => lines(out).length >= 1, { message: 'the newest record', timeoutMs: 60_000 });
      await new RawEnvelopePublisher(registry, publisher).publish([envelope(9)], raw);
      await waitFor(() => out.includes('"natural_key":"session-9"'), { message: 'the record published while following', timeoutMs: 60_000 });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const followed = lines(out).map((l) => (JSON.parse(l) as { value: { natural_key: string } }).value.natural_key);
      expect(followed).toEqual([(JSON.parse(newestAlone[0]!) as { value: { natural_key: string } }).value.natural_key, 'session-9']);

      const unknown = cdrflow(['tail', `${ns}.cdr.dql`], env);
      expect(unknown.status).toBe(64);
      expect(unknown.stderr).toContain(`(did you mean ${dlq}?)`);
      // A topic of the configuration the pipeline has not created yet: said so, not "did you mean" the same name.
      const notYet = cdrflow(['tail', `${ns}.cdr.events.huawei-privatenumber`], env);
      expect(notYet.status).toBe(64);
      expect(notYet.stderr).toContain(`topic "${ns}.cdr.events.huawei-privatenumber" does not exist yet: the pipeline creates it when it starts`);
    } finally {
      await publisher.disconnect();
    }
  });

  it('--last N counts records, not offsets: on a transactional topic (a commit marker after each record) it prints the N newest', async () => {
    const ns = uniqueName('tail-txn');
    const topic = `${ns}.cdr.dlq`;
    const kafka = testKafka();
    await ensureTopics(kafka, [{ topic, partitions: 3 }]);
    const producer = kafka.producer({ transactionalId: `${ns}-writer`, maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const base = Date.UTC(2026, 11, 1, 9, 0, 0);
    try {
      // One record per transaction, as small transactions leave it: every other offset of a partition is a marker.
      for (let i = 1; i <= 9; i++) {
        const txn = await producer.transaction();
        await txn.send({ topic, messages: [{ key: `k-${i}`, value: `v-${i}`, partition: i % 3, timestamp: String(base + i * 1000) }] });
        await txn.commit();
      }
    } finally {
      await producer.disconnect();
    }
    const keys = (args: string[]) => {
      const r = cdrflow(['tail', topic, ...args, '--format', 'json'], { CDRFLOW_NAMESPACE: ns });
      expect(r.status, r.stderr).toBe(0);
      return lines(r.stdout).map((l) => (JSON.parse(l) as { key: string }).key);
    };
    // The old reading started each partition at its last N offsets: `--last 1` found only markers and printed nothing.
    expect(keys(['--last', '1'])).toEqual(['k-9']);
    expect(keys(['--last', '4'])).toEqual(['k-6', 'k-7', 'k-8', 'k-9']);
    expect(keys(['--last', '50'])).toEqual(['k-1', 'k-2', 'k-3', 'k-4', 'k-5', 'k-6', 'k-7', 'k-8', 'k-9']);
    expect(keys(['--from-beginning'])).toHaveLength(9);
  });
});
