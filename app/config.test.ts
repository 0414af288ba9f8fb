import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, endpoints, loadAppConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problems(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadAppConfig', () => {
  it('runs with no file and no environment: local stack, embedded ClickHouse, components defaults', () => {
    const config = loadAppConfig({ env: {} });
    const ends = endpoints(config);
    expect(ends.local).toMatchObject({ kafka: true, registry: true, base: 19000 });
    expect(ends.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(ends.registryUrl).toBe('http://127.0.0.1:19081/apis/ccompat/v7');
    expect(ends.opsPort).toBe(19070);
    expect(ends.clickhouse).toMatchObject({ kind: 'embedded', database: 'cdrflow' });
    expect(config.clickhouse.url).toBeUndefined();
    expect(config.sink.database).toBe('cdrflow');
    expect(config.normalize.outputTopic).toBe('cdr.normalized');
    expect(config.connectors['tencent-ccc']).toBeUndefined();
    expect(config.receiver).toBeUndefined();
  });

  it('reports every problem of a file at once, each with its path', () => {
    const path = file(
      'bad.yaml',
      [
        'kafka: { brokers: ["no-port-here"] }',
        'connectors:',
        '  tencent-ccc: { secretId: "", sdkAppIds: [], bogus: 1 }',
        'sink: { flushRows: 0 }',
        'demo: { callsPerSecond: -1 }',
        'receiver: { port: 8088 }',
        'unknownSection: {}',
      ].join('\n'),
    );
    const found = problems(() => loadAppConfig({ file: path, env: {} }));
    const paths = found.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'kafka.brokers.0',
        'connectors.tencent-ccc.secretId',
        'connectors.tencent-ccc.secretKey',
        'connectors.tencent-ccc.sdkAppIds',
        'sink.flushRows',
        'demo.callsPerSecond',
      ]),
    );
    // Unknown keys are named (strict objects), at the root and inside a component's own schema.
    expect(found.some((p) => p.path === '(root)' && p.message.includes('unknownSection'))).toBe(true);
    expect(found.some((p) => p.path === 'connectors.tencent-ccc' && p.message.includes('bogus'))).toBe(true);
    expect(found.length).toBeGreaterThanOrEqual(8);
  });

  it('names a file that is not valid YAML or JSON, or missing', () => {
    expect(problems(() => loadAppConfig({ file: file('broken.json', '{"kafka": '), env: {} }))[0]!.message).toMatch(/not valid JSON/);
    expect(problems(() => loadAppConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }))[0]!.message).toMatch(/must hold an object/);
    expect(problems(() => loadAppConfig({ file: join(dir, 'nope.yaml'), env: {} }))[0]!.message).toMatch(/cannot read/);
  });

  it('lets the environment override the file, and reports unreadable variables with their name', () => {
    const path = file('kafka.yaml', 'kafka: { brokers: ["file:9092"] }\nconnectors:\n  tencent-trtc: { pollIntervalSec: 30 }\n');
    const config = loadAppConfig({
      file: path,
      env: {
        KAFKA_BROKERS: 'a:9092, b:9092',
        SCHEMA_REGISTRY_URL: 'http://sr:8081',
        CLICKHOUSE_URL: 'http://ch:8123',
        CLICKHOUSE_DATABASE: 'billing',
        TENCENT_TRTC_APPS: '1400000001:secret-a,1400000002:secret-b',
        CDRFLOW_OPS_PORT: '9999',
      },
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9092']);
    expect(endpoints(config).local).toMatchObject({ kafka: false, registry: false });
    expect(config.clickhouse.url).toBe('http://ch:8123');
    expect(config.sink.database).toBe('billing');
    expect(config.connectors['tencent-trtc']?.apps).toEqual([
      { sdkAppId: 1400000001, secretKey: 'secret-a' },
      { sdkAppId: 1400000002, secretKey: 'secret-b' },
    ]);
    expect(config.connectors['tencent-trtc']?.pollIntervalSec).toBe(30);
    expect(endpoints(config).opsPort).toBe(9999);

    const bad = problems(() => loadAppConfig({ env: { CDRFLOW_HUAWEI_APPS: '[{"appKey":', CDRFLOW_OPS_PORT: 'x' } }));
    expect(bad.map((p) => p.path)).toEqual(expect.arrayContaining(['env CDRFLOW_HUAWEI_APPS', 'env CDRFLOW_OPS_PORT']));
  });

  it('prefixes every topic, group and checkpoint topic with the namespace unless a component names its own', () => {
    const path = file(
      'ns.yaml',
      'namespace: t1\nsink: { groupId: my-sink }\nconnectors:\n  tencent-ccc: { secretId: i, secretKey: k, sdkAppIds: [1] }\nreceiver:\n  lvms: { apps: [{ appKey: a, appSecret: s }] }\n',
    );
    const config = loadAppConfig({ file: path, env: {} });
    expect(config.normalize.inputTopics).toEqual(['t1.cdr.raw.tencent-ccc', 't1.cdr.raw.tencent-trtc', 't1.cdr.raw.huawei-privatenumber', 't1.cdr.raw.alibaba-lvms']);
    expect(config.normalize.groupId).toBe('t1.cdrflow.normalize');
    expect(config.normalize.outputTopic).toBe('t1.cdr.normalized');
    expect(config.sink.inputTopic).toBe('t1.cdr.normalized');
    expect(config.sink.groupId).toBe('my-sink');
    expect(config.connectors['tencent-ccc']?.topics).toEqual({ raw: 't1.cdr.raw.tencent-ccc', checkpoints: 't1.cdrflow.checkpoints', deadLetter: 't1.cdr.dlq' });
    expect(config.receiver?.lvms?.topic).toBe('t1.cdr.raw.alibaba-lvms');
  });
});
