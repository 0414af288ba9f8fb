import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DESCRIPTIONS, configPaths, readmeSection, renderConfigReference } from './config-reference.ts';
import { REPO_ROOT } from './config.ts';

describe('configuration reference', () => {
  it('README.md carries exactly the reference generated from the zod schemas', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readmeSection(readme);
    expect(section, 'README.md lacks the <!-- config-reference --> section').toBeDefined();
    // On failure: node bin/run-ts.mjs app/config-reference.ts --write
    expect(section).toBe(renderConfigReference());
  });

  it('describes only keys that exist', () => {
    const paths = new Set(configPaths());
    expect(Object.keys(DESCRIPTIONS).filter((p) => !paths.has(p))).toEqual([]);
  });

  it('lists the keys a new user needs', () => {
    const text = renderConfigReference();
    for (const key of ['kafka.brokers', 'clickhouse.url', 'connectors.tencent-ccc.secretId', 'receiver.huawei.apps', 'sink.flushRows', 'demo.callsPerSecond']) {
      expect(text).toContain(`\`${key}\``);
    }
  });
});
