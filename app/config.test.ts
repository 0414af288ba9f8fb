import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES, endpoints, loadAppConfig } from './config.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import { configFiles, problems } from './config-test-kit.ts';
import { quote } from '../core/input-limits.ts';
import { MAX_SEED } from '../simulators/kit.ts';

const file = configFiles('cdrflow-config-');

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

  // README, "The main job": these figures are promised in its prose, which the generated reference cannot keep in step.
  it('has the defaults the README names: demo rate and refused pushes, status interval, drain and deadline, SQL limits, sessions, polling', () => {
    const config = loadAppConfig({ env: {} });
    expect(config.demo).toMatchObject({ callsPerSecond: 4, flakyPushRate: 0.03 });
    expect(config.ops.statusIntervalSec).toBe(5);
    expect(config.shutdown).toMatchObject({ drainTimeoutSec: 15, hardDeadlineSec: 45 });
    const MiB = 1024 * 1024;
    expect(config.ops.sql).toMatchObject({ maxExecutionTimeSec: 30, maxResultRows: 1_000_000, maxResultBytes: 256 * MiB, maxMemoryBytes: 512 * MiB, maxThreads: 2, maxConcurrent: 2 });
    expect([config.normalize.sessionTimeoutMs, config.sink.sessionTimeoutMs]).toEqual([6_000, 6_000]);
    const polled = loadAppConfig({
      file: file('pollers.yaml', 'connectors:\n  tencent-ccc: { secretId: i, secretKey: k, sdkAppIds: [1400000001] }\n  tencent-trtc: { apps: [{ sdkAppId: 1600000001, secretKey: k }] }\n'),
      env: {},
    }).connectors;
    expect(polled['tencent-ccc']).toMatchObject({ settleSec: 120, lookbackSec: 1800, maxCallSec: 3600 });
    expect(polled['tencent-trtc']).toMatchObject({ settleSec: 120, lookbackSec: 1800, maxCallSec: 7200 });
  });

  it("runs the job's bulk threads at nice 10 unless told otherwise, and refuses what setpriority cannot take", () => {
    expect(loadAppConfig({ env: {} }).workerThreads.nice).toBe(10);
    expect(loadAppConfig({ file: file('nice0.yaml', 'workerThreads: { nice: 0 }'), env: {} }).workerThreads.nice).toBe(0);
    for (const bad of ['-1', '20', '2.5', '"high"']) {
      expect(problems(() => loadAppConfig({ file: file('nice-bad.yaml', `workerThreads: { nice: ${bad} }`), env: {} })).map((p) => p.path)).toEqual(['workerThreads.nice']);
    }
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
    // A section holding a secret counts its unknown keys without showing them: one may be a secret pasted there.
    expect(found.some((p) => p.path === 'connectors.tencent-ccc' && p.message.startsWith('an unknown key (not shown'))).toBe(true);
    expect(found.length).toBeGreaterThanOrEqual(8);
  });

  it('answers a mistyped key with the key of that section it most likely meant, at any depth', () => {
    const path = file(
      'typo.yaml',
      ['connectors:', '  tencent-ccc: { secretId: a, secretKey: b, sdkAppId: [1400000001] }', 'sink: { flushRow: 5 }', 'receiver:', '  huawei:', '    apps: [{ appkey: k, appSecret: s }]', 'zzz: 1'].join('\n'),
    );
    const found = new Map(problems(() => loadAppConfig({ file: path, env: {} })).map((p) => [p.path, p.message]));
    expect(found.get('connectors.tencent-ccc')).toBe('Unrecognized key: "sdkAppId" (did you mean "sdkAppIds"?)');
    expect(found.get('sink')).toBe('Unrecognized key: "flushRow" (did you mean "flushRows"?)');
    expect(found.get('receiver.huawei.apps.0')).toBe('Unrecognized key: "appkey" (did you mean "appKey"?)');
    // Nothing close: the key alone.
    expect(found.get('(root)')).toBe('Unrecognized key: "zzz"');
  });

  it('refuses a CCC window the vendor would refuse (End − Start under 90 days, assumed from DescribeTelCdr), naming the limit', () => {
    const ccc = (extra: string) => file('ccc-window.yaml', `connectors:\n  tencent-ccc: { secretId: i, secretKey: k, sdkAppIds: [1400000001]${extra} }\n`);
    const found = problems(() => loadAppConfig({ file: ccc(', maxWindowSec: 7776000'), env: {} }));
    expect(found).toEqual([
      {
        path: 'connectors.tencent-ccc.maxWindowSec',
        message: 'maxWindowSec + lookbackSec + maxCallSec is 7781400 s: one CCC request must span less than 90 days (7776000 s), the DescribeTelCdr limit assumed for DescribeProtectedTelCdr',
      },
    ]);
    // The re-read before a live window counts too: 90 days in all is refused, a second less is not.
    expect(problems(() => loadAppConfig({ file: ccc(', maxWindowSec: 7770600'), env: {} })).map((p) => p.path)).toEqual(['connectors.tencent-ccc.maxWindowSec']);
    expect(loadAppConfig({ file: ccc(', maxWindowSec: 7770599'), env: {} }).connectors['tencent-ccc']?.maxWindowSec).toBe(7770599);
  });

  it('refuses an app or tenant listed twice, naming both places (the last secret won silently)', () => {
    const found = problems(() =>
      loadAppConfig({
        env: {
          CDRFLOW_HUAWEI_APPS: '[{"appKey":"k1","appSecret":"s1"},{"appKey":"k2","appSecret":"s2"},{"appKey":"k1","appSecret":"s3"}]',
          CDRFLOW_LVMS_APPS: '[{"appKey":"l1","appSecret":"a"},{"appKey":"l1","appSecret":"b"}]',
          TENCENT_CCC_SECRET_ID: 'id',
          TENCENT_CCC_SECRET_KEY: 'key',
          TENCENT_CCC_SDKAPPIDS: '1400000101,1400000101',
          TENCENT_TRTC_APPS: '1600000101:x,1600000101:y',
        },
      }),
    );
    expect(found.map((p) => `${p.path}: ${p.message}`).sort()).toEqual([
      'connectors.tencent-ccc.sdkAppIds.1: SdkAppId 1400000101 is also item 0; each may appear once',
      'connectors.tencent-trtc.apps.1: sdkAppId 1600000101 is also item 0; each may appear once',
      'receiver.huawei.apps.2: appKey "k1" is also item 0; each may appear once',
      'receiver.lvms.apps.1: appKey "l1" is also item 0; each may appear once',
    ]);
  });

  it('refuses a Huawei or LVMS appKey with a ":" in it, naming the setting (tenant "a:b" key "c" and tenant "a" key "b:c" were one cdr_id)', () => {
    const found = problems(() =>
      loadAppConfig({
        env: {
          CDRFLOW_HUAWEI_APPS: '[{"appKey":"V1Z965:21zF","appSecret":"s1"}]',
          CDRFLOW_LVMS_APPS: '[{"appKey":"12345678","appSecret":"a"},{"appKey":"1234:5678","appSecret":"b"}]',
        },
      }),
    );
    expect(found.map((p) => `${p.path}: ${p.message}`).sort()).toEqual([
      'receiver.huawei.apps.0.appKey: must not contain ":" (the tenant is the middle of every cdr_id, <vendor>:<tenant>:<natural key>, and natural keys hold ":" too)',
      'receiver.lvms.apps.1.appKey: must not contain ":" (the tenant is the middle of every cdr_id, <vendor>:<tenant>:<natural key>, and natural keys hold ":" too)',
    ]);
    // Real appKeys: Huawei's letters and digits, TOP's digits.
    expect(() => loadAppConfig({ env: { CDRFLOW_HUAWEI_APPS: '[{"appKey":"V1Z96521zFr3vxe5N2A1UJ1sQ1WP","appSecret":"s"}]', CDRFLOW_LVMS_APPS: '[{"appKey":"12345678","appSecret":"s"}]' } })).not.toThrow();
  });

  it('refuses a topic or a consumer group that plays two parts, naming the key (each was taken: nothing normalized, or every record thrown away)', () => {
    const cases: [string, [string]][] = [
      ['sink: { groupId: cdrflow.normalize }', ['sink.groupId: consumer group cdrflow.normalize is also normalize.groupId: each stage needs a group of its own (in one group the stages split the partitions of topics only one of them reads)']],
      ['dlqLoader: { groupId: cdrflow.sink.clickhouse }', ['dlqLoader.groupId: consumer group cdrflow.sink.clickhouse is also sink.groupId: each stage needs a group of its own (in one group the stages split the partitions of topics only one of them reads)']],
      ['sink: { inputTopic: cdr.raw.tencent-ccc }', ['sink.inputTopic: topic cdr.raw.tencent-ccc is also an input of normalize (normalize.inputTopics): a topic plays one part in the pipeline']],
      ['dlqLoader: { inputTopic: cdr.normalized }', ['dlqLoader.inputTopic: topic cdr.normalized is also normalize.outputTopic: a topic plays one part in the pipeline']],
      ['normalize: { outputTopic: cdr.raw.tencent-ccc }', ['normalize.outputTopic: topic cdr.raw.tencent-ccc is also an input of normalize (normalize.inputTopics): a topic plays one part in the pipeline']],
      ['normalize: { deadLetterTopic: cdr.raw.alibaba-lvms }', ['normalize.deadLetterTopic: topic cdr.raw.alibaba-lvms is also an input of normalize (normalize.inputTopics): a topic plays one part in the pipeline']],
      ['receiver: { lvms: { topic: cdr.raw.huawei-privatenumber } }', ['receiver.lvms.topic: topic cdr.raw.huawei-privatenumber is also receiver.huawei.topics.fee: each kind of push needs a topic of its own (normalize reads a raw topic as one vendor\'s)']],
    ];
    const env = { CDRFLOW_HUAWEI_APPS: '[{"appKey":"k","appSecret":"s"}]', CDRFLOW_LVMS_APPS: '[{"appKey":"l","appSecret":"s"}]' };
    for (const [yaml, expected] of cases) {
      const found = problems(() => loadAppConfig({ file: file('topology.yaml', yaml), env })).map((p) => `${p.path}: ${p.message}`);
      expect(found[0], yaml).toBe(expected[0]);
    }
    // The defaults, a namespace, and a sink reading another pipeline's normalized topic are fine.
    expect(() => loadAppConfig({ env })).not.toThrow();
    expect(() => loadAppConfig({ env: { ...env, CDRFLOW_NAMESPACE: 'team1' } })).not.toThrow();
    expect(() => loadAppConfig({ file: file('other-sink.yaml', 'sink: { inputTopic: other.cdr.normalized }'), env })).not.toThrow();
  });

  it('refuses a YAML-typed value (!!binary, !!set, !!omap, !!timestamp) at its path: such a section was dropped silently', () => {
    const cases: [string, string, string][] = [
      ['sink: !!binary aGVsbG8=', 'sink', 'Buffer'],
      ['sink: !!set {a, b}', 'sink', 'Set'],
      ['normalize: !!omap [{workers: 2}]', 'normalize', 'Map'],
      ['ops:\n  sql: { maxThreads: !!timestamp 2001-12-14 }', 'ops.sql.maxThreads', 'Date'],
      ['receiver:\n  lvms:\n    signMethods: [md5, !!binary aGk=]', 'receiver.lvms.signMethods.1', 'Buffer'],
    ];
    for (const [yaml, path, kind] of cases) {
      const found = problems(() => loadAppConfig({ file: file('typed.yaml', yaml), env: {} }));
      expect(found, yaml).toHaveLength(1);
      expect(found[0], yaml).toEqual({ path, message: `a YAML-typed value (${kind}, from a tag such as !!binary, !!set, !!omap or !!timestamp); write plain mappings, lists, strings, numbers and booleans` });
    }
  });

  it('names a file that is not valid YAML or JSON, or missing', () => {
    expect(problems(() => loadAppConfig({ file: file('broken.json', '{"kafka": '), env: {} }))[0]!.message).toMatch(/not valid JSON/);
    expect(problems(() => loadAppConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }))[0]!.message).toMatch(/must hold an object/);
    // A null written out was read as an empty file, the defaults, without a word; an empty YAML file still is that.
    for (const [name, text] of [['null.json', 'null'], ['null.yaml', 'null\n'], ['tilde.yaml', '~'], ['doc-null.yaml', '--- null\n'], ['number.json', '5'], ['string.json', '"{}"']]) {
      expect(problems(() => loadAppConfig({ file: file(name!, text!), env: {} })), name).toEqual([{ path: file(name!, text!), message: 'must hold an object (a mapping of sections)' }]);
    }
    for (const text of ['', '# all commented out\n', '---\n']) expect(loadAppConfig({ file: file('empty.yaml', text), env: {} }), text).toEqual(loadAppConfig({ env: {} }));
    expect(problems(() => loadAppConfig({ file: file('deep.yaml', `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}`), env: {} }))[0]!.message).toBe('not valid YAML: nested too deeply');
    expect(problems(() => loadAppConfig({ file: join(tmpdir(), 'cdrflow-no-such-dir', 'nope.yaml'), env: {} }))[0]!.message).toMatch(/cannot read/);
  });

  it('reads a file that starts with a UTF-8 byte-order mark (as some Windows editors save it) as the same file without it', () => {
    const json = '{"kafka": {"clientId": "from-json"}}';
    expect(loadAppConfig({ file: file('bom.json', `\ufeff${json}`), env: {} })).toEqual(loadAppConfig({ file: file('no-bom.json', json), env: {} }));
    expect(loadAppConfig({ file: file('bom.yaml', '\ufeffkafka: { clientId: from-yaml }\n'), env: {} }).kafka.clientId).toBe('from-yaml');
    // Only a leading one is the file's encoding mark: inside a value it stays what it is.
    expect(loadAppConfig({ file: file('bom-inside.json', '{"kafka": {"clientId": "a\ufeffb"}}'), env: {} }).kafka.clientId).toBe('a\ufeffb');
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
        TENCENT_TRTC_APPS: '1400000001:secret-a,1400000002:secret-b:v1',
        CDRFLOW_OPS_PORT: '9999',
      },
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9092']);
    expect(endpoints(config).local).toMatchObject({ kafka: false, registry: false });
    expect(config.clickhouse.url).toBe('http://ch:8123');
    expect(config.sink.database).toBe('billing');
    expect(config.connectors['tencent-trtc']?.apps).toEqual([
      { sdkAppId: 1400000001, secretKey: 'secret-a', api: 'v4' },
      { sdkAppId: 1400000002, secretKey: 'secret-b', api: 'v1' },
    ]);
    expect(config.connectors['tencent-trtc']?.pollIntervalSec).toBe(30);
    expect(endpoints(config).opsPort).toBe(9999);

    const bad = problems(() => loadAppConfig({ env: { CDRFLOW_HUAWEI_APPS: '[{"appKey":', CDRFLOW_OPS_PORT: 'x' } }));
    // One line per mistake: not also the schema's complaint about what the unreadable value left behind (it said
    // "ops.port: … received NaN" and "receiver.huawei.apps: missing: set CDRFLOW_HUAWEI_APPS").
    expect(bad.map((p) => p.path).sort()).toEqual(['env CDRFLOW_HUAWEI_APPS', 'env CDRFLOW_OPS_PORT']);
  });

  it('names the environment variable that sets a missing setting, and only for a missing one', () => {
    const missing = problems(() => loadAppConfig({ env: { TENCENT_CCC_SDKAPPIDS: '1400000001' } }));
    expect(missing).toEqual(
      expect.arrayContaining([
        { path: 'connectors.tencent-ccc.secretId', message: 'missing: set TENCENT_CCC_SECRET_ID, or connectors.tencent-ccc.secretId in the config file' },
        { path: 'connectors.tencent-ccc.secretKey', message: 'missing: set TENCENT_CCC_SECRET_KEY, or connectors.tencent-ccc.secretKey in the config file' },
      ]),
    );
    const wrong = problems(() => loadAppConfig({ file: file('ccc-wrong.yaml', 'connectors:\n  tencent-ccc: { secretId: 5, secretKey: k, sdkAppIds: [1400000001] }\n'), env: {} }));
    expect(wrong.find((p) => p.path === 'connectors.tencent-ccc.secretId')?.message).toMatch(/expected string, received number/);
  });

  it('refuses a SASL password or mechanism without a user, and a user without a password, naming what is missing', () => {
    const userMissing = { path: 'kafka.sasl.username', message: 'missing: set KAFKA_SASL_USERNAME, or kafka.sasl.username in the config file' };
    const passwordMissing = { path: 'kafka.sasl.password', message: 'missing: set KAFKA_SASL_PASSWORD, or kafka.sasl.password in the config file' };
    // Both were dropped silently: SASL stayed off and the broker refused the job later, without saying why.
    expect(problems(() => loadAppConfig({ env: { KAFKA_SASL_MECHANISM: 'scram-sha-512' } }))).toEqual([userMissing, passwordMissing]);
    for (const env of [{ KAFKA_SASL_PASSWORD: 'hunter2' }, { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'hunter2' }]) {
      const found = problems(() => loadAppConfig({ env }));
      expect(found).toEqual([userMissing]);
      expect(JSON.stringify(found)).not.toContain('hunter2');
    }
    for (const text of ['kafka: { sasl: { password: hunter2 } }\n', 'kafka: { sasl: { mechanism: plain } }\n']) {
      expect(problems(() => loadAppConfig({ file: file('sasl.yaml', text), env: {} }))).toContainEqual(userMissing);
    }
    // A user alone was given an empty password.
    expect(problems(() => loadAppConfig({ env: { KAFKA_SASL_USERNAME: 'u' } }))).toEqual([passwordMissing]);
    // The file and the environment together make one setting: the user in the file, the secret in the environment.
    const split = loadAppConfig({ file: file('sasl-user.yaml', 'kafka: { sasl: { username: u, mechanism: scram-sha-256 } }\n'), env: { KAFKA_SASL_PASSWORD: 'pw' } });
    expect(split.kafka.sasl).toEqual({ username: 'u', password: 'pw', mechanism: 'scram-sha-256' });
    // An empty password in the file was taken, as the environment's is not, and the broker refused the login later.
    const emptyInFile = file('sasl-empty.yaml', 'kafka: { sasl: { username: u, password: "" } }\n');
    const passwordEmpty = { path: 'kafka.sasl.password', message: 'empty: set KAFKA_SASL_PASSWORD, or kafka.sasl.password in the config file' };
    expect(problems(() => loadAppConfig({ file: emptyInFile, env: {} }))).toEqual([passwordEmpty]);
    expect(problems(() => loadAppConfig({ file: emptyInFile, env: { KAFKA_SASL_PASSWORD: '' } }))).toEqual([passwordEmpty]);
    expect(loadAppConfig({ file: emptyInFile, env: { KAFKA_SASL_PASSWORD: 'pw' } }).kafka.sasl?.password).toBe('pw');
  });

  it.each([
    ['kafka.sasl.username', 'KAFKA_SASL_USERNAME', { KAFKA_BROKERS: 'k:9092', KAFKA_SASL_PASSWORD: 'hunter2' }, '{"kafka": {"sasl": {"username": "a\\u0000b", "password": "hunter2"}}}'],
    ['clickhouse.username', 'CLICKHOUSE_USER', { CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_PASSWORD: 'hunter2' }, '{"clickhouse": {"username": "a\\u0000b", "password": "hunter2"}}'],
  ])('refuses a %s with a control character, quoted safely, the password never shown', (path, variable, env, json) => {
    for (const user of ['ana\u0000lyst', 'analyst\n', 'ana\u001b[2Jlyst', 'analyst\u007f']) {
      const found = problems(() => loadAppConfig({ env: { ...env, [variable]: user } }));
      expect(found).toEqual([{ path, message: `a control character in the user name (env ${variable}): ${quote(user)}` }]);
      expect(JSON.stringify(found)).not.toContain('hunter2');
    }
    const fromFile = problems(() => loadAppConfig({ file: file(`${variable}-ctl.json`, json), env: {} }));
    expect(fromFile.map((p) => p.path)).toEqual([path]);
    expect(fromFile[0]!.message).toContain('"a\\u0000b"');
    expect(JSON.stringify(fromFile)).not.toContain('hunter2');
  });

  it('refuses a ClickHouse data directory with a NUL, quoted safely', () => {
    expect(problems(() => loadAppConfig({ env: { CLICKHOUSE_DATA_DIR: '/var/lib/ch\u0000x' } }))).toEqual([
      { path: 'clickhouse.dataDir', message: 'a NUL character in the path (env CLICKHOUSE_DATA_DIR): "/var/lib/ch\\u0000x"' },
    ]);
    expect(problems(() => loadAppConfig({ file: file('ch-dir.yaml', 'clickhouse: { dataDir: "d\\0x" }\n'), env: {} })).map((p) => p.path)).toEqual(['clickhouse.dataDir']);
    // Only NUL: any other character is a valid file name.
    expect(loadAppConfig({ env: { CLICKHOUSE_DATA_DIR: '/var/lib/ch data\u00e9' } }).clickhouse.dataDir).toBe('/var/lib/ch data\u00e9');
  });

  it('refuses a ClickHouse user with a colon, which HTTP Basic auth cannot carry, the password never shown', () => {
    // The server splits user and password at the first colon: "ana:lyst" with "hunter2" logged in as "ana" with "lyst:hunter2".
    const found = problems(() => loadAppConfig({ env: { CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_USER: 'ana:lyst', CLICKHOUSE_PASSWORD: 'hunter2' } }));
    expect(found).toEqual([
      { path: 'clickhouse.username', message: 'a colon in the user name (env CLICKHOUSE_USER), which HTTP Basic auth cannot carry: "ana:lyst"' },
    ]);
    const fromFile = problems(() => loadAppConfig({ file: file('ch-colon.yaml', 'clickhouse: { username: "a:b", password: hunter2 }\n'), env: {} }));
    expect(fromFile).toEqual([{ path: 'clickhouse.username', message: 'a colon in the user name (env CLICKHOUSE_USER), which HTTP Basic auth cannot carry: "a:b"' }]);
    expect(JSON.stringify(fromFile)).not.toContain('hunter2');
    // One line for one user name, whatever else is wrong in it.
    expect(problems(() => loadAppConfig({ env: { CLICKHOUSE_USER: 'a:\u001b' } }))).toEqual([
      { path: 'clickhouse.username', message: `a control character in the user name (env CLICKHOUSE_USER): ${quote('a:\u001b')}` },
    ]);
  });

  it("takes a demo seed within the 32 bits the generators keep, as simulate's --seed does", () => {
    expect(loadAppConfig({ file: file('seed-max.yaml', `demo: { seed: ${MAX_SEED} }\n`), env: {} }).demo.seed).toBe(MAX_SEED);
    // The generators keep the seed's low 32 bits: 2^32 drew the same traffic as 0.
    const found = problems(() => loadAppConfig({ file: file('seed-over.yaml', `demo: { seed: ${MAX_SEED + 1} }\n`), env: {} }));
    expect(found.map((p) => p.path)).toEqual(['demo.seed']);
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

// Node runs a timer longer than 2^31-1 ms (24.8 days) after 1 ms, with only a warning: a monthly reconcile
// (intervalSec 2,592,000) ran back to back, a status line was printed every millisecond, every vendor request timed out.
describe('timer settings', () => {
  const TIMERS: [path: string, tooLong: number][] = [
    ['ops.statusIntervalSec', 2_147_484],
    ['demo.pollIntervalSec', 2_147_484],
    ['reconcile.schedule.intervalSec', 2_592_000],
    ['reconcile.schedule.initialDelaySec', 2_147_484],
    ['connectors.tencent-ccc.pollIntervalSec', 2_147_484],
    ['connectors.tencent-ccc.timeoutMs', 2 ** 31],
    ['connectors.tencent-ccc.retry.initialMs', 2 ** 31],
    ['connectors.tencent-ccc.retry.maxMs', 2 ** 31],
    ['connectors.tencent-trtc.pollIntervalSec', 2_147_484],
    ['receiver.headersTimeoutMs', 2 ** 31],
    ['receiver.bodyTimeoutMs', 2 ** 31],
    ['receiver.keepAliveTimeoutMs', 2 ** 31],
    ['receiver.unreadAnswerTimeoutMs', 2 ** 31],
    ['receiver.ackTimeoutMs', 2 ** 31],
    ['receiver.shutdownGraceMs', 2 ** 31],
  ];
  const base = () => ({
    connectors: { 'tencent-ccc': { secretId: 'i', secretKey: 'k', sdkAppIds: [1400000001] }, 'tencent-trtc': { apps: [{ sdkAppId: 1600000001, secretKey: 'k' }] } },
    receiver: { lvms: { apps: [{ appKey: 'a', appSecret: 's' }] } },
  });
  const withSetting = (path: string, value: number) => {
    const doc: Record<string, unknown> = base();
    const keys = path.split('.');
    let cur = doc;
    for (const key of keys.slice(0, -1)) cur = (cur[key] ??= {}) as Record<string, unknown>;
    cur[keys.at(-1)!] = value;
    return file(`${path}.json`, JSON.stringify(doc));
  };

  it('takes the longest delay a timer can wait, and refuses a longer one naming the setting', () => {
    for (const [path, tooLong] of TIMERS) {
      const longest = path.endsWith('Ms') ? 2 ** 31 - 1 : 2_147_483;
      expect(() => loadAppConfig({ env: {}, file: withSetting(path, longest) }), path).not.toThrow();
      expect(problems(() => loadAppConfig({ env: {}, file: withSetting(path, tooLong) })).map((p) => p.path), path).toEqual([path]);
    }
  });
});

// normalize's and the sink's topics were held to Kafka's names; the connectors' and the receiver's were taken as any
// string, and a topic with a blank, a quote or 300 characters failed only when the job first wrote to it.
it("refuses a connector's or the receiver's topic that Kafka cannot name, naming the setting", () => {
  const paths = ['connectors.tencent-ccc.topics.raw', 'connectors.tencent-ccc.topics.checkpoints', 'connectors.tencent-trtc.topics.deadLetter', 'receiver.huawei.topics.fee', 'receiver.huawei.topics.events', 'receiver.lvms.topic'];
  for (const topic of ['cdr raw', 'cdr"raw', 'cdr\\raw', 'x'.repeat(250)]) {
    const doc = {
      connectors: {
        'tencent-ccc': { secretId: 'i', secretKey: 'k', sdkAppIds: [1400000001], topics: { raw: topic, checkpoints: topic } },
        'tencent-trtc': { apps: [{ sdkAppId: 1600000001, secretKey: 'k' }], topics: { deadLetter: topic } },
      },
      receiver: { huawei: { apps: [{ appKey: 'h', appSecret: 's' }], topics: { fee: topic, events: `${topic}e` } }, lvms: { apps: [{ appKey: 'a', appSecret: 's' }], topic: `${topic}l` } },
    };
    const found = problems(() => loadAppConfig({ env: {}, file: file('topics.json', JSON.stringify(doc)) }));
    expect(found.map((p) => p.path).sort(), topic.slice(0, 10)).toEqual([...paths].sort());
  }
});

describe('one configuration loader', () => {
  // A sample value per variable, and what it must become at the variable's config path.
  const SAMPLES: Record<string, [string, unknown]> = {
    KAFKA_BROKERS: ['k1:9092,k2:9092', ['k1:9092', 'k2:9092']],
    KAFKA_SSL: ['true', true],
    KAFKA_SASL_MECHANISM: ['scram-sha-512', 'scram-sha-512'],
    KAFKA_SASL_USERNAME: ['user', 'user'],
    KAFKA_SASL_PASSWORD: ['pw', 'pw'],
    SCHEMA_REGISTRY_URL: ['https://sr.example:8081', 'https://sr.example:8081'],
    CLICKHOUSE_URL: ['http://ch.example:8123', 'http://ch.example:8123'],
    CLICKHOUSE_USER: ['analyst', 'analyst'],
    CLICKHOUSE_PASSWORD: ['secret', 'secret'],
    CLICKHOUSE_DATABASE: ['billing', 'billing'],
    CLICKHOUSE_DATA_DIR: ['/var/lib/cdrflow/ch', '/var/lib/cdrflow/ch'],
    CDRFLOW_PORT_BASE: ['23000', 23000],
    CDRFLOW_OPS_PORT: ['9999', 9999],
    CDRFLOW_NAMESPACE: ['prod', 'prod'],
    TENCENT_CCC_SECRET_ID: ['AKIDx', 'AKIDx'],
    TENCENT_CCC_SECRET_KEY: ['keyx', 'keyx'],
    TENCENT_CCC_SDKAPPIDS: ['1400000001,1400000002', [1400000001, 1400000002]],
    TENCENT_CCC_ENDPOINT: ['ccc.example:8443', 'ccc.example:8443'],
    TENCENT_TRTC_APPS: ['1600000001:s1,1600000002:s2:v1', [{ sdkAppId: 1600000001, secretKey: 's1', api: 'v4' }, { sdkAppId: 1600000002, secretKey: 's2', api: 'v1' }]],
    TENCENT_TRTC_BASE_URL: ['http://trtc.example', 'http://trtc.example'],
    TENCENT_TRTC_IDENTIFIER: ['admin2', 'admin2'],
    CDRFLOW_HUAWEI_APPS: ['[{"appKey":"hk","appSecret":"hs"}]', [{ appKey: 'hk', appSecret: 'hs' }]],
    CDRFLOW_LVMS_APPS: ['[{"appKey":"lk","appSecret":"ls"}]', [{ appKey: 'lk', appSecret: 'ls' }]],
    CDRFLOW_RECEIVER_HOST: ['0.0.0.0', '0.0.0.0'],
    CDRFLOW_RECEIVER_PORT: ['8099', 8099],
    HUAWEI_BASE_URL: ['https://rtcpns.example.com', 'https://rtcpns.example.com'],
  };
  // Variables that only make sense beside others (a password beside a user, a base URL beside Huawei apps, ...).
  const BASE_ENV = {
    TENCENT_CCC_SECRET_ID: 'AKIDx',
    TENCENT_CCC_SECRET_KEY: 'keyx',
    TENCENT_CCC_SDKAPPIDS: '1400000001',
    TENCENT_TRTC_APPS: '1600000001:s0',
    CDRFLOW_HUAWEI_APPS: '[{"appKey":"h0","appSecret":"s0"}]',
    KAFKA_SASL_USERNAME: 'u0',
    KAFKA_SASL_PASSWORD: 'p0',
  };

  it('covers every variable of the environment table', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(ENV_OVERRIDES.map((o) => o.name).sort());
  });

  it.each(ENV_OVERRIDES.map((o) => [o.name, o.path] as const))('%s sets %s, and the file is overridden by it', (name, path) => {
    const [raw, expected] = SAMPLES[name]!;
    const config = loadAppConfig({ env: { ...BASE_ENV, [name]: raw } });
    expect(at(config, path)).toEqual(expected);
  });

  it('every command loads its configuration through the one loader (none reads these variables itself)', () => {
    const names = ENV_OVERRIDES.map((o) => o.name);
    const offenders: string[] = [];
    for (const dir of ['cli', 'connectors', 'transforms', 'sinks', 'core', 'app']) {
      for (const f of readdirSync(join(REPO_ROOT, dir), { recursive: true }) as string[]) {
        if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f.includes('fixtures')) continue;
        const text = readFileSync(join(REPO_ROOT, dir, f), 'utf8');
        const rel = `${dir}/${f}`;
        if (rel === 'app/config.ts') continue;
        for (const n of names) if (new RegExp(`env\\[['"]${n}['"]\\]|env\\.${n}\\b`).test(text)) offenders.push(`${rel}: ${n}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});

function at(doc: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((cur, key) => (cur as Record<string, unknown> | undefined)?.[key], doc);
}

// A whole pipeline (`start`, `reconcile`) holds its sources' raw topics to normalize's inputs. Each case was silent: the
// records stored and never normalized, loaded or reconciled, or reconciled as another vendor's.
describe('a whole pipeline: the sources against normalize.inputTopics', () => {
  const env = { CDRFLOW_HUAWEI_APPS: '[{"appKey":"k","appSecret":"s"}]', CDRFLOW_LVMS_APPS: '[{"appKey":"l","appSecret":"s"}]' };
  const whole = (yaml: string) => problems(() => loadAppConfig({ file: file('whole.yaml', yaml), env, wholePipeline: true })).map((p) => `${p.path}: ${p.message}`);

  it("refuses a source's topic normalize does not read, one named for another vendor, and an input no one can attribute", () => {
    expect(whole('receiver: { lvms: { topic: lvms-in } }')).toEqual([
      'receiver.lvms.topic: topic lvms-in is not among normalize.inputTopics: its records would be stored and never normalized, loaded or reconciled; add it there',
    ]);
    expect(whole('connectors: { tencent-ccc: { secretId: i, secretKey: k, sdkAppIds: [1400000001], topics: { raw: cdr.raw.tencent-trtc } } }')).toEqual([
      "connectors.tencent-ccc.topics.raw: topic cdr.raw.tencent-trtc is named as tencent-trtc's raw topic but holds tencent-ccc's records: reconcile would count them as tencent-trtc's; name it ….raw.tencent-ccc or anything not named for another vendor",
    ]);
    expect(whole('normalize: { inputTopics: [cdr.raw.tencent-ccc, misc] }')).toEqual([
      "receiver.huawei.topics.fee: topic cdr.raw.huawei-privatenumber is not among normalize.inputTopics: its records would be stored and never normalized, loaded or reconciled; add it there",
      'receiver.lvms.topic: topic cdr.raw.alibaba-lvms is not among normalize.inputTopics: its records would be stored and never normalized, loaded or reconciled; add it there',
      "normalize.inputTopics.1: topic misc is neither a connector's or receiver's raw topic nor named like one (….raw.<vendor>): reconcile could not tell whose calls it holds",
    ]);
    expect(whole('normalize: { inputTopics: [cdr.raw.huawei-privatenumber, cdr.raw.alibaba-lvms, cdr.events.huawei-privatenumber] }')[0]).toBe(
      'normalize.inputTopics: topic cdr.events.huawei-privatenumber is receiver.huawei.topics.events: call events are kept raw, not CDRs; normalize would dead-letter every one',
    );
  });

  it('takes the defaults, a namespace, and a custom raw topic that normalize reads; a command that runs one part alone is not held to it', () => {
    expect(() => loadAppConfig({ env, wholePipeline: true })).not.toThrow();
    expect(() => loadAppConfig({ env: { ...env, CDRFLOW_NAMESPACE: 'team1' }, wholePipeline: true })).not.toThrow();
    const custom = 'receiver: { lvms: { topic: lvms-in } }\nnormalize: { inputTopics: [cdr.raw.huawei-privatenumber, lvms-in] }';
    expect(() => loadAppConfig({ file: file('custom.yaml', custom), env, wholePipeline: true })).not.toThrow();
    // `cdrflow receive` alone may feed a normalize configured elsewhere.
    expect(() => loadAppConfig({ file: file('receiver-only.yaml', 'receiver: { lvms: { topic: lvms-in } }'), env })).not.toThrow();
  });
});
