// Config values are read exactly or refused (exit 78, one line naming the file or the variable), never leniently:
// JSON.parse dropped the first of two `"sink"` members, `KAFKA_SSL=1` turned TLS off and `CDRFLOW_OPS_PORT=" "` meant
// port 0.
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../core/input-limits.ts';
import { configJsonSchema } from './config-reference.ts';
import { loadAppConfig } from './config.ts';
import { configFiles, problems } from './config-test-kit.ts';

const file = configFiles('cdrflow-config-env-');

describe('a JSON config file', () => {
  it('is refused when a section is given twice, as YAML refuses it (JSON.parse kept the last one)', () => {
    const path = file('dup.json', '{"sink": {"flushRows": 100}, "sink": {"flushMs": 50}}');
    expect(problems(() => loadAppConfig({ file: path, env: {} }))).toEqual([{ path, message: 'not valid JSON: duplicate JSON member "sink" in one object' }]);
    expect(problems(() => loadAppConfig({ file: file('dup.yaml', 'sink: { flushRows: 100 }\nsink: { flushMs: 50 }\n'), env: {} }))[0]!.message).toMatch(/not valid YAML: Map keys must be unique/);
  });

  it('is refused when a setting inside a section is given twice, spelled alike or escaped', () => {
    const nested = file('dup-nested.json', '{"kafka": {"ssl": true, "ssl": false}}');
    expect(problems(() => loadAppConfig({ file: nested, env: {} }))).toEqual([{ path: nested, message: 'not valid JSON: duplicate JSON member "ssl" in one object' }]);
    const deeper = file('dup-deeper.json', JSON.stringify({ receiver: { huawei: { apps: [{ appKey: 'k', appSecret: 's' }] } } }).replace('"appSecret":"s"', '"appSecret":"s","appSecret":"t"'));
    expect(problems(() => loadAppConfig({ file: deeper, env: {} }))[0]!.message).toBe('not valid JSON: duplicate JSON member "appSecret" in one object');
    const escaped = file('dup-escaped.json', '{"sink": {"flushRows": 100}, "\\u0073ink": {}}');
    expect(problems(() => loadAppConfig({ file: escaped, env: {} }))[0]!.message).toBe('not valid JSON: duplicate JSON member "sink" in one object');
  });

  it('still loads when every name is once per object (the same name in two objects is fine), and words a syntax error as before', () => {
    const config = loadAppConfig({
      file: file('ok.json', JSON.stringify({ sink: { flushRows: 100, flushMs: 50 }, dlqLoader: { flushRows: 100 }, receiver: { huawei: { apps: [{ appKey: 'k', appSecret: 's' }] } } })),
      env: {},
    });
    expect(config.sink).toMatchObject({ flushRows: 100, flushMs: 50 });
    expect(config.receiver?.huawei?.apps[0]).toMatchObject({ appKey: 'k', appSecret: 's' });
    const broken = problems(() => loadAppConfig({ file: file('broken.json', '{"kafka": '), env: {} }))[0]!.message;
    expect(broken).toMatch(/^not valid JSON: /);
    expect(broken).not.toMatch(/malformed JSON/);
  });

  it("has room under the strict parser's depth limit for the deepest setting of the schema", () => {
    type S = { properties?: Record<string, S>; items?: S; anyOf?: S[]; type?: string | string[] };
    const depth = (s: S): number =>
      Math.max(0, ...Object.values(s.properties ?? {}).map(depth), ...(s.items ? [depth(s.items)] : []), ...(s.anyOf ?? []).map(depth)) +
      (s.type === 'object' || s.type === 'array' ? 1 : 0);
    const deepest = depth(configJsonSchema() as S);
    expect(deepest).toBeGreaterThanOrEqual(5);
    expect(deepest).toBeLessThan(MAX_JSON_DEPTH);
  });
});

describe('booleans from the environment', () => {
  const sslFile = () => file('ssl.yaml', 'kafka: { ssl: true }\n');

  it.each(['1', '0', 'yes', 'no', 'on', 'TRUE', 'True', 'FALSE', ' ', 'tru', 'true1'])('KAFKA_SSL=%j is refused, naming the variable and the value (TLS is never turned off by it)', (value) => {
    expect(problems(() => loadAppConfig({ file: sslFile(), env: { KAFKA_SSL: value } }))).toEqual([{ path: 'env KAFKA_SSL', message: `needs true or false, got ${JSON.stringify(value)}` }]);
  });

  it('KAFKA_SSL=true or false overrides the file; empty is unset, as for every variable', () => {
    expect(loadAppConfig({ file: sslFile(), env: { KAFKA_SSL: 'false' } }).kafka.ssl).toBe(false);
    expect(loadAppConfig({ env: { KAFKA_SSL: 'true' } }).kafka.ssl).toBe(true);
    expect(loadAppConfig({ env: { KAFKA_SSL: ' true\n' } }).kafka.ssl).toBe(true);
    expect(loadAppConfig({ file: sslFile(), env: { KAFKA_SSL: '' } }).kafka.ssl).toBe(true);
  });
});

describe('numbers from the environment', () => {
  it.each([' ', '\t', '0x4000', '1e3', '-1', '+80', '70000', '65536', '8080.0', '80.5', '80abc', 'Infinity', 'NaN', '0b101', '１２'])(
    'CDRFLOW_OPS_PORT=%j is refused, once, naming the variable and the value',
    (value) => {
      expect(problems(() => loadAppConfig({ env: { CDRFLOW_OPS_PORT: value } }))).toEqual([
        { path: 'env CDRFLOW_OPS_PORT', message: `needs a port number 0..65535, got ${JSON.stringify(value)}` },
      ]);
    },
  );

  it('CDRFLOW_OPS_PORT takes plain decimal ports 0..65535, surrounding blanks aside', () => {
    expect(loadAppConfig({ env: { CDRFLOW_OPS_PORT: '8080' } }).ops.port).toBe(8080);
    expect(loadAppConfig({ env: { CDRFLOW_OPS_PORT: '0' } }).ops.port).toBe(0);
    expect(loadAppConfig({ env: { CDRFLOW_OPS_PORT: '65535' } }).ops.port).toBe(65535);
    expect(loadAppConfig({ env: { CDRFLOW_OPS_PORT: ' 8080 ' } }).ops.port).toBe(8080);
    expect(loadAppConfig({ env: { CDRFLOW_OPS_PORT: '' } }).ops.port).toBeUndefined();
  });

  it('CDRFLOW_RECEIVER_PORT and CDRFLOW_PORT_BASE are read the same way, within their ranges', () => {
    const lvms = { CDRFLOW_LVMS_APPS: '[{"appKey":"k","appSecret":"s"}]' };
    expect(loadAppConfig({ env: { ...lvms, CDRFLOW_RECEIVER_PORT: '8099' } }).receiver?.port).toBe(8099);
    for (const value of [' ', '0x1f90', '1e3', '-1', '70000']) {
      expect(problems(() => loadAppConfig({ env: { ...lvms, CDRFLOW_RECEIVER_PORT: value } }))).toEqual([
        { path: 'env CDRFLOW_RECEIVER_PORT', message: `needs a port number 0..65535, got ${JSON.stringify(value)}` },
      ]);
    }
    expect(loadAppConfig({ env: { CDRFLOW_PORT_BASE: '23000' } }).localInfra.portBase).toBe(23000);
    for (const value of [' ', '0x5000', '2e4', '-20000', '80', '65001']) {
      expect(problems(() => loadAppConfig({ env: { CDRFLOW_PORT_BASE: value } }))).toEqual([
        { path: 'env CDRFLOW_PORT_BASE', message: `needs a port base 1024..65000, got ${JSON.stringify(value)}` },
      ]);
    }
  });

  it('SdkAppIds in TENCENT_CCC_SDKAPPIDS and TENCENT_TRTC_APPS are positive decimal integers; one line names the first bad one', () => {
    const ccc = { TENCENT_CCC_SECRET_ID: 'i', TENCENT_CCC_SECRET_KEY: 'k' };
    expect(loadAppConfig({ env: { ...ccc, TENCENT_CCC_SDKAPPIDS: '1400000001, 1400000002' } }).connectors['tencent-ccc']?.sdkAppIds).toEqual([1400000001, 1400000002]);
    for (const [value, bad] of [['1400000001,0x10,1e3', '0x10'], ['1400000001,,2', ''], ['1.4e9', '1.4e9'], ['0', '0']] as const) {
      expect(problems(() => loadAppConfig({ env: { ...ccc, TENCENT_CCC_SDKAPPIDS: value } }))).toEqual([
        { path: 'env TENCENT_CCC_SDKAPPIDS', message: `needs a positive integer for each SdkAppId, got ${JSON.stringify(bad)}` },
      ]);
    }
    // The bad item is named by its place, never quoted: what stands where its id goes may be a secret key.
    const trtc = problems(() => loadAppConfig({ env: { TENCENT_TRTC_APPS: '1600000001:secret-one,0x10:secret-two' } }));
    expect(trtc).toEqual([{ path: 'env TENCENT_TRTC_APPS', message: 'needs a positive integer sdkAppId before each secret key, got something else in item 2 (not shown: the value holds secret keys)' }]);
  });
});

describe('JSON from the environment', () => {
  it('CDRFLOW_HUAWEI_APPS with a member twice in one app is refused like a JSON file, not read with the last one', () => {
    expect(problems(() => loadAppConfig({ env: { CDRFLOW_HUAWEI_APPS: '[{"appKey":"k","appSecret":"s","appSecret":"t"}]' } }))).toEqual([
      { path: 'env CDRFLOW_HUAWEI_APPS', message: 'not valid JSON: duplicate JSON member "appSecret" in one object' },
    ]);
  });
});
