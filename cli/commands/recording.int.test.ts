// `cdrflow recording` against the real Kafka, as a user runs it (a child process).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { uniqueName } from '../../test/helpers.ts';

const CLI = fileURLToPath(new URL('../../bin/cdrflow.mjs', import.meta.url));

it("a --topic that does not exist is a usage error naming the fee topic (it was the broker's 'does not host this topic-partition', exit 1)", () => {
  const topic = uniqueName('no-such-topic');
  const r = spawnSync(process.execPath, [CLI, 'recording', 'huawei-privatenumber:k1:s1', '--topic', topic], {
    encoding: 'utf8',
    env: { ...process.env, CDRFLOW_HUAWEI_APPS: '[{"appKey":"k1","appSecret":"s1"}]' },
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(64);
  expect(r.stderr).toMatch(new RegExp(`^cdrflow recording: --topic "${topic}" does not exist \\(the Huawei fee records are in cdr\\.raw\\.huawei-privatenumber\\)\\n`));
}, 60_000);
