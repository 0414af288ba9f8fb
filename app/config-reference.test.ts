import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DESCRIPTIONS, configJsonSchema, configPaths, readmeSection, renderConfigReference } from './config-reference.ts';
import { REPO_ROOT } from '../core/repo-root.ts';

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

  it('states the length a string must have and the one value a literal takes, as the schema refuses the rest', () => {
    type Node = { properties?: Record<string, Node>; items?: Node; anyOf?: Node[]; minLength?: number; maxLength?: number; const?: unknown };
    const rows = new Map(renderConfigReference().split('\n').filter((l) => l.startsWith('| `')).map((l) => [l.split(' | ')[0]!.slice(3, -1), l] as const));
    const checked: string[] = [];
    const visit = (node: Node, path: string, row: string): void => {
      const line = rows.get(row)!;
      if (node.const !== undefined) {
        expect(line.split(' | ')[1], row).toBe(JSON.stringify(node.const));
        checked.push(row);
      }
      if ((node.minLength ?? 0) > 1) {
        expect(line, row).toMatch(new RegExp(`(at least |\\b)${node.minLength}(–\\d+)? characters`));
        checked.push(row);
      }
      if (node.maxLength !== undefined) {
        expect(line, row).toMatch(new RegExp(`(at most |–)${node.maxLength} characters`));
        checked.push(row);
      }
      for (const m of node.anyOf ?? []) visit(m, path, row);
      for (const [k, child] of Object.entries(node.properties ?? {})) visit(child, path ? `${path}.${k}` : k, path ? `${path}.${k}` : k);
      for (const [k, child] of Object.entries(node.items?.properties ?? {})) visit(child, `${path}[].${k}`, `${path}[].${k}`);
    };
    for (const [k, child] of Object.entries((configJsonSchema() as Node).properties!)) visit(child, k, k);
    // The fields a user meets: a PII key shorter than 16 characters, a region other than CN, a Huawei appKey past 128.
    expect(checked).toEqual(expect.arrayContaining(['normalize.mapping.piiKey', 'normalize.mapping.defaultRegion', 'receiver.huawei.apps[].appKey']));
  });
});
