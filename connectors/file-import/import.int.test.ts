// `cdrflow import` as a user runs it (child process) against the test Kafka and registry.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import type { RawEnvelope } from '../../core/envelope.ts';

const CLI = fileURLToPath(new URL('../../bin/cdrflow.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/huawei-fee.jsonl', import.meta.url));

function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('cdrflow import', () => {
  it('publishes good lines with mode=import, reports bad lines by number, exits 2', async () => {
    const topic = uniqueName('raw_import');
    const result = await runCli(['import', 'huawei-privatenumber', '--file', FIXTURE, '--topic', topic]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/huawei-fee\.jsonl:4: skipped: not valid JSON/);
    expect(result.stderr).toMatch(/huawei-fee\.jsonl:6: skipped: the record has no appKey/);
    expect(result.stderr).toMatch(/done: lines=6 records=3 skipped=3/);

    const kafka = testKafka();
    const registry = testRegistry();
    const consumer = kafka.consumer({ groupId: uniqueName('import_read') });
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
});
