// `cdrflow import` as a user runs it (child process) against the test Kafka and registry.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_FETCH_WAIT_MS, testInfra, testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import { ensureTopics, topicExists } from '../../core/kafka.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { messageCount } from '../poller/fixtures/kafka-check.ts';

const CLI = fileURLToPath(new URL('../../bin/cdrflow.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/huawei-fee.jsonl', import.meta.url));

function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; out: { stderr: string }; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const out = { stderr: '' };
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr: out.stderr }));
  });
  return { child, out, exit };
}

const runCli = (args: string[]) => startCli(args).exit;

/** A test topic, created the way a user would before naming it with --topic (import never creates one). */
async function existingTopic(prefix: string): Promise<string> {
  const topic = uniqueName(prefix);
  await ensureTopics(testKafka(), [{ topic, partitions: 1 }]);
  return topic;
}

// FIFOs and their writers (bounded streams for the endless-input cases), removed and stopped after each test; each
// script `exec`s its last command, so the kill reaches the process that holds the FIFO open.
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const clean of cleanups.splice(0)) clean();
});
function fifoFedBy(script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-import-int-'));
  const path = join(dir, 'input.jsonl');
  execFileSync('mkfifo', [path]);
  const writer = spawn('sh', ['-c', `exec > "$0"; ${script}`, path], { stdio: 'ignore' });
  cleanups.push(() => {
    writer.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

describe('cdrflow import', () => {
  it('publishes good lines with mode=import, reports bad lines by number, exits 2', async () => {
    const topic = await existingTopic('raw_import');
    const result = await runCli(['import', 'huawei-privatenumber', '--file', FIXTURE, '--topic', topic]);
    expect(result.code, result.stderr).toBe(2);
    // The stages read cdr.raw.huawei-privatenumber: a note says where these went.
    expect(result.stderr).toContain(`cdrflow import: note: the stages read cdr.raw.huawei-privatenumber for huawei-privatenumber; records published to "${topic}" reach ClickHouse only if something reads that topic`);
    expect(result.stderr).toMatch(/huawei-fee\.jsonl:4: skipped: not valid JSON/);
    expect(result.stderr).toMatch(/huawei-fee\.jsonl:6: skipped: the record has no appKey/);
    expect(result.stderr).toMatch(/done: lines=6 records=3 skipped=3/);

    const kafka = testKafka();
    const registry = testRegistry();
    const consumer = kafka.consumer({ groupId: uniqueName('import_read'), maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
    const got: RawEnvelope[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void got.push((await registry.decode(message.value!)) as RawEnvelope) });
      await waitFor(() => got.length >= 3, { message: '3 imported records' });
    } finally {
      await consumer.disconnect();
    }
    expect(got.map((e) => e.natural_key).sort()).toEqual([
      '1200_a_1@callenabler246.huaweicaas.com', '1200_a_2@callenabler246.huaweicaas.com', '1200_a_3@callenabler246.huaweicaas.com',
    ]);
    expect(got.every((e) => e.mode === 'import' && e.connector === 'import' && e.tenant_id === 'hwImportApp')).toBe(true);
  });

  it('with a namespace, records go to <namespace>.cdr.raw.<vendor>, created as before (they went to the un-namespaced topic)', async () => {
    const namespace = uniqueName('import_ns');
    const topic = `${namespace}.cdr.raw.huawei-privatenumber`;
    const result = await startCli(['import', 'huawei-privatenumber', '--file', FIXTURE], { ...process.env, CDRFLOW_NAMESPACE: namespace }).exit;
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`done: lines=6 records=3 skipped=3 blank=1 topic=${topic.replace(/\./g, '\\.')} `));
    expect(await messageCount(testKafka(), topic)).toBe(3);
  });

  it("without --topic, records go to the receiver's own topic when the config names one (they went to the default)", async () => {
    const topic = await existingTopic('import_receiver_fee');
    const dir = mkdtempSync(join(tmpdir(), 'import-cfg-'));
    const config = join(dir, 'cdrflow.json');
    writeFileSync(config, JSON.stringify({ receiver: { huawei: { apps: [{ appKey: 'k', appSecret: 's' }], topics: { fee: topic } } } }));
    try {
      const result = await runCli(['import', 'huawei-privatenumber', '--file', FIXTURE, '--config', config]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`done: lines=6 records=3 skipped=3 blank=1 topic=${topic} `));
      expect(await messageCount(testKafka(), topic)).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a batch Kafka refuses past its retries ends the import with the summary and the line to import again from (it named the last line read)', async () => {
    // The topic takes messages of at most 1,000 bytes: lines 1 and 2 fit, line 3 (a long remark) never does.
    const topic = uniqueName('raw_import_refused');
    await ensureTopics(testKafka(), [{ topic, partitions: 1, config: { 'max.message.bytes': '1000' } }]);
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-import-int-'));
    try {
      const file = join(dir, 'records.jsonl');
      const record = (n: number, extra = '') => JSON.stringify({ appKey: 'hwImportApp', sessionId: `s-refused-${n}`, ...(extra ? { remark: extra } : {}) });
      writeFileSync(file, [record(1), record(2), record(3, 'x'.repeat(2_000)), record(4)].join('\n') + '\n');
      const result = await runCli(['import', 'huawei-privatenumber', '--file', file, '--topic', topic, '--batch', '1']);
      expect(result.code, result.stderr).toBe(1);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines.at(-2)).toMatch(/^import huawei-privatenumber done: lines=\d+ records=2 skipped=0 blank=0 failed_at_line=3 topic=\S+ request_id=\S+ elapsed=\d+s$/);
      expect(lines.at(-1)).toMatch(/^cdrflow import: a batch could not be published \(.+\): its 1 records, from line 3, were not published; the lines before line 3 were published \(2 records\) or reported: import the file again from line 3 on /);
      expect(await messageCount(testKafka(), topic)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a --topic that does not exist is refused before anything is read, and is not created (a typo used to create it, exit 0)', async () => {
    const topic = uniqueName('raw_import_typo');
    const result = await runCli(['import', 'huawei-privatenumber', '--file', FIXTURE, '--topic', topic]);
    expect(result.code, result.stderr).toBe(64);
    expect(result.stderr).toBe(`cdrflow import: --topic "${topic}" does not exist; the pipeline reads cdr.raw.huawei-privatenumber for huawei-privatenumber (leave --topic out to publish there)\n`);
    expect(await topicExists(testKafka(), topic)).toBe(false);
    const subject = await fetch(`${testInfra().schemaRegistryUrl}/subjects/${encodeURIComponent(`${topic}-value`)}/versions`);
    expect(subject.status).toBe(404);
  });

  it('a line still going after 64 MiB ends the import: the lines before it published, the summary, one line naming it, exit 65 (/dev/zero ran for ever)', async () => {
    const topic = await existingTopic('raw_import_endless');
    // One good line, then 72 MiB of zeros without a line end: bounded, and nothing written to disk.
    const fifo = fifoFedBy(`printf '%s\\n' '{"appKey":"hwApp","sessionId":"s-endless-1"}'; exec head -c ${72 * 1024 * 1024} /dev/zero`);
    const result = await runCli(['import', 'huawei-privatenumber', '--file', fifo, '--topic', topic]);
    expect(result.code, result.stderr).toBe(65);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines.at(-2)).toMatch(/^import huawei-privatenumber done: lines=1 records=1 skipped=0 blank=0 failed_at_line=2 topic=\S+ request_id=\S+ elapsed=\d+s$/);
    expect(lines.at(-1)).toBe(`cdrflow import: --file ${fifo}: line 2 is still going after 64 MiB without a line end: the file does not look like JSON Lines (one JSON value per line); the import stopped there`);
  });

  it('SIGINT / SIGTERM: stops reading, publishes what it read, prints the summary so far, exits 130 / 143 (it printed nothing)', async () => {
    const topic = await existingTopic('raw_import_stop');
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      // Three lines, then a writer that stays silent with the pipe open (a slow producer): the import waits for more.
      const fifo = fifoFedBy(`for i in 1 2 3; do printf '{"appKey":"hwApp","sessionId":"s-stop-%s"}\\n' $i; done; exec sleep 120`);
      const run = startCli(['import', 'huawei-privatenumber', '--file', fifo, '--topic', topic]);
      // The first progress line comes with the first line read; the other two are in the same read.
      await waitFor(() => /import huawei-privatenumber \d+ lines/.test(run.out.stderr), { message: 'the first progress line', details: () => run.out.stderr });
      await new Promise((r) => setTimeout(r, 500));
      run.child.kill(signal);
      const result = await run.exit;
      expect(result.code, result.stderr).toBe(code);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines.at(-2)).toMatch(/^import huawei-privatenumber done: lines=3 records=3 skipped=0 blank=0 stopped_at_line=3 topic=\S+ request_id=\S+ elapsed=\d+s$/);
      expect(lines.at(-1)).toBe(`cdrflow import: stopped by ${signal} after line 3: the lines read were published or reported, the rest of the file was not read`);
    }
  });
});
