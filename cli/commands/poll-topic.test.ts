// `cdrflow poll --topic` follows the rule of backfill and import (cli/pull-connector.ts checkTopicFlags): another
// vendor's raw topic is refused with one line and exit 64, before Kafka is asked and before the connector would have
// created a topic. Kafka is on a closed loopback port here, so an accepted topic would fail differently.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('cdrflow poll --topic', () => {
  const env = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    KAFKA_BROKERS: '127.0.0.1:1',
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
    TENCENT_CCC_SECRET_ID: 'AKIDtest',
    TENCENT_CCC_SECRET_KEY: 'key',
    TENCENT_CCC_SDKAPPIDS: '1400000001',
    NO_COLOR: '1',
  };

  it("refuses another vendor's raw topic (exit 64); it used to be created and polled into", () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'bin/cdrflow.mjs'), 'poll', 'tencent-ccc', '--topic', 'cdr.raw.tencent-trtc'],
      { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(64);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^cdrflow poll: --topic "cdr\.raw\.tencent-trtc" is the raw topic of tencent-trtc/);
  });

  it('refuses a pipeline topic that holds no checkpoints as --checkpoint-topic (exit 64), before Kafka is asked', () => {
    for (const [topic, role] of [
      ['cdr.raw.tencent-ccc', 'raw tencent-ccc'],
      ['cdr.normalized', 'normalized'],
    ]) {
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'bin/cdrflow.mjs'), 'poll', 'tencent-ccc', '--checkpoint-topic', topic!],
        { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(64);
      expect(r.stderr).toBe(
        `cdrflow poll: --checkpoint-topic "${topic}" is the pipeline's ${role} topic, not a checkpoint topic: the connector would read its records as checkpoints and write its checkpoints among them; the configured checkpoint topic is cdrflow.checkpoints (leave --checkpoint-topic out to use it)\n`,
      );
    }
  });
});
