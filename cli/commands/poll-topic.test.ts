// `cdrflow poll --topic` follows the rule of backfill and import (cli/pull-connector.ts checkTopicFlags): another
// vendor's raw topic is refused with one line and exit 64, before Kafka is asked and before the connector would have
// created a topic. Kafka is on a closed loopback port here, so an accepted topic would fail differently.
import { describe, expect, it } from 'vitest';
import { cdrflowWithoutServers } from '../../test/cli-without-servers.ts';

describe('cdrflow poll --topic', () => {
  it("refuses another vendor's raw topic (exit 64); it used to be created and polled into", () => {
    const r = cdrflowWithoutServers(['poll', 'tencent-ccc', '--topic', 'cdr.raw.tencent-trtc']);
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
      const r = cdrflowWithoutServers(['poll', 'tencent-ccc', '--checkpoint-topic', topic!]);
      expect(r.status, r.stderr).toBe(64);
      expect(r.stderr).toBe(
        `cdrflow poll: --checkpoint-topic "${topic}" is the pipeline's ${role} topic, not a checkpoint topic: the connector would read its records as checkpoints and write its checkpoints among them; the configured checkpoint topic is cdrflow.checkpoints (leave --checkpoint-topic out to use it)\n`,
      );
    }
  });
});
