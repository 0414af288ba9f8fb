// `cdrflow start` refuses an invalid configuration before it touches any server: every problem with its path, exit 78.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cdrflow } from './cli.ts';

describe('cdrflow start with an invalid configuration', () => {
  it('prints every problem with its path and exits 78 without starting anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-start-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      ['kafka: { brokers: ["nohostport"] }', 'connectors:', '  tencent-trtc: { apps: [{ sdkAppId: -1 }] }', 'sink: { flushMs: 1 }', 'demo: { rate: 3 }'].join('\n'),
    );
    // Port base 1 below the allowed range would also be reported; the ops port env is read as a number.
    const env: NodeJS.ProcessEnv = { ...process.env, CDRFLOW_OPS_PORT: 'seventy', CLICKHOUSE_DATA_DIR: join(dir, 'ch') };
    delete env['KAFKA_BROKERS'];
    const result = await cdrflow(['start', '--config', file], env, 60_000);
    expect(result.code).toBe(78);
    for (const path of ['kafka.brokers.0', 'connectors.tencent-trtc.apps.0.sdkAppId', 'connectors.tencent-trtc.apps.0.secretKey', 'sink.flushMs', 'demo', 'env CDRFLOW_OPS_PORT']) {
      expect(result.stderr).toContain(`- ${path}:`);
    }
    expect(result.stderr).toContain('rate');
    // Nothing was started: no infra, no embedded engine directory.
    expect(result.stderr).not.toContain('infra:');
  });

  it('refuses --rate without --demo as a usage error', async () => {
    const result = await cdrflow(['start', '--rate', '3'], process.env, 60_000);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('--rate applies to --demo only');
  });
});
