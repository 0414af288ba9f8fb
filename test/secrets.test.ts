// Secrets-leak campaign: every secret the configuration holds is set to a marker of its own, the components' failure
// paths that produce words are driven (a vendor refusing us, a wrongly signed push refused, a config refused, a
// ClickHouse login refused, the status rendered), and no marker may appear in what they say: the error, its causes,
// the log entries, the HTTP answer, the metrics, the status text. A signature derived from a secret may appear; the
// secret may not.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeTarget, endpoints, loadAppConfig } from '../app/config.ts';
import { clickhouseFigures, formatStatus, formatStatusLine, type StatusSnapshot } from '../app/status.ts';
import { CccApiClient } from '../connectors/tencent-ccc/client.ts';
import { TrtcApiClient, UserSigCache } from '../connectors/tencent-trtc/client.ts';
import { startReceiver } from '../connectors/push-vendors.ts';
import type { RunningReceiver } from '../connectors/receiver/receiver.ts';
import { MemorySink } from '../connectors/receiver/fixtures/memory-sink.ts';
import { TopicCodec, createRegistry, fetchWriter, RefusedWriters } from '../core/avro.ts';
import { createClickHouse } from '../core/clickhouse.ts';
import { classifyRegistryError } from '../core/dead-letter.ts';
import { configureLogging, memoryLog } from '../core/log.ts';
import { SCHEMA_FILES, TOPICS } from '../core/topology.ts';
import { huaweiAuthHeaders } from '../simulators/huawei-privatenumber/sign.ts';
import { submitLvmsRecord } from '../simulators/alibaba-lvms/submitter.ts';
import { rejection } from './helpers.ts';

const SECRET = {
  ccc: 'SECRET-ccc-7f3a',
  trtc: 'SECRET-trtc-91c2',
  huawei: 'SECRET-hw-4d0e',
  lvms: 'SECRET-lvms-b85f',
  clickhouse: 'SECRET-chpw-2a6d',
  kafka: 'SECRET-kafka-e13b',
  registry: 'SECRET-reg-5c79',
  pii: 'SECRET-pii-0f4e-9b1d7c',
} as const;
const MARKERS = Object.values(SECRET);
/**
 * Every 8 characters of every marker: a message quoting a snippet of its input (V8's JSON.parse shows ten characters
 * either side of the fault) leaks part of a secret without ever holding it whole.
 */
const PIECES = [...new Set(MARKERS.flatMap((m) => Array.from({ length: m.length - 7 }, (_, i) => m.slice(i, i + 8))))];

/** Everything an error carries that may be printed: its message, its stack, its causes', its own fields. */
function errorText(err: unknown, depth = 0): string {
  if (depth > 5 || err === null || err === undefined) return '';
  if (!(err instanceof Error)) return typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
  const own = Object.entries(err).filter(([key]) => key !== 'cause').map(([key, value]) => `${key}=${safeJson(value)}`);
  return [err.message, err.stack ?? '', ...own, errorText((err as { cause?: unknown }).cause, depth + 1)].join('\n');
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function expectNoSecret(what: string, text: string): void {
  for (const piece of PIECES) expect(text.includes(piece), `${what} holds ${piece} of a secret:\n${text.slice(0, 2000)}`).toBe(false);
}

/** What the console got while a test ran: a client library printing on its own would go there. */
let consoleText: string[] = [];
afterEach(() => {
  expectNoSecret('the console', consoleText.join('\n'));
  consoleText = [];
  vi.restoreAllMocks();
});
function captureConsole(): void {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleText.push(args.map((a) => (a instanceof Error ? errorText(a) : safeJson(a))).join(' ')));
  }
}

const servers: { close(): void; closeAllConnections(): void }[] = [];
const receivers: RunningReceiver[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

/** A loopback HTTP server answering every request with `answer`; its requests are kept. */
async function loopback(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      answer(req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, requests };
}

const text = (status: number, body: string, type = 'text/plain') => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
};

describe('config loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-secrets-'));
  const file = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };
  const refusal = (options: Parameters<typeof loadAppConfig>[0]): string => {
    try {
      loadAppConfig(options);
    } catch (err) {
      return errorText(err);
    }
    throw new Error('the configuration was accepted');
  };

  const envCases: [string, NodeJS.ProcessEnv][] = [
    ['TENCENT_TRTC_APPS holding only the secret key (the sdkAppId left out)', { TENCENT_TRTC_APPS: SECRET.trtc }],
    ['TENCENT_TRTC_APPS written key first', { TENCENT_TRTC_APPS: `${SECRET.trtc}:1400000001` }],
    ['TENCENT_TRTC_APPS with a second item of the key only', { TENCENT_TRTC_APPS: `1400000001:abc,${SECRET.trtc}` }],
    ['TENCENT_TRTC_APPS with an unknown api after the key', { TENCENT_TRTC_APPS: `1400000001:${SECRET.trtc}:v9` }],
    ['CDRFLOW_HUAWEI_APPS that is no JSON', { CDRFLOW_HUAWEI_APPS: `[{"appKey":"k","appSecret":${SECRET.huawei}}]` }],
    ['CDRFLOW_HUAWEI_APPS cut short', { CDRFLOW_HUAWEI_APPS: `[{"appKey":"k","appSecret":"${SECRET.huawei}"` }],
    ['CDRFLOW_HUAWEI_APPS with a number for a key', { CDRFLOW_HUAWEI_APPS: `[{"appKey":1,"appSecret":"${SECRET.huawei}","mode":"AB"}]` }],
    ['CDRFLOW_LVMS_APPS with a trailing comma', { CDRFLOW_LVMS_APPS: `[{"appKey":"k","appSecret":"${SECRET.lvms}",}]` }],
    ['CDRFLOW_LVMS_APPS with the secret unquoted', { CDRFLOW_LVMS_APPS: `[{"appKey":"k","appSecret":${SECRET.lvms}}]` }],
    ['CDRFLOW_LVMS_APPS an object, not a list', { CDRFLOW_LVMS_APPS: `{"appKey":"k","appSecret":"${SECRET.lvms}"}` }],
    // A secret pasted as a key of its own (a key is named in an "unknown key" refusal).
    ['CDRFLOW_HUAWEI_APPS with the secret as an unknown key', { CDRFLOW_HUAWEI_APPS: `[{"appKey":"k","appSecret":"x","mode":"AXB","${SECRET.huawei}":1}]` }],
    ['CDRFLOW_LVMS_APPS with the secret as an unknown key beside a misspelt one', { CDRFLOW_LVMS_APPS: `[{"appKey":"k","appSecrt":"x","${SECRET.lvms}":""}]` }],
    ['a Kafka password without a user', { KAFKA_SASL_PASSWORD: SECRET.kafka }],
    ['a Kafka password with an unknown mechanism', { KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: SECRET.kafka, KAFKA_SASL_MECHANISM: 'gssapi' }],
    ['a registry URL with a password and no scheme', { SCHEMA_REGISTRY_URL: `u:${SECRET.registry}@registry:8081` }],
    ['a registry URL with a password and another scheme', { SCHEMA_REGISTRY_URL: `ftp://u:${SECRET.registry}@registry:8081` }],
    ['a ClickHouse URL with a password in it', { CLICKHOUSE_URL: `http://u:${SECRET.clickhouse}@ch:8123` }],
    ['a ClickHouse password and a user with a colon', { CLICKHOUSE_USER: 'a:b', CLICKHOUSE_PASSWORD: SECRET.clickhouse }],
    ['a CCC secret key without the rest of its section', { TENCENT_CCC_SECRET_KEY: SECRET.ccc }],
    ['a CCC secret key with bad SdkAppIds', { TENCENT_CCC_SECRET_ID: 'AKID', TENCENT_CCC_SECRET_KEY: SECRET.ccc, TENCENT_CCC_SDKAPPIDS: 'x' }],
  ];
  it.each(envCases)('%s: refused without the secret', (_name, env) => {
    expectNoSecret('the refusal', refusal({ env }));
  });

  const fileCases: [string, string, string][] = [
    ['a YAML string left open', 'a.yaml', `kafka:\n  sasl:\n    username: u\n    password: "${SECRET.kafka}\n`],
    ['a YAML password followed by a colon', 'b.yaml', `clickhouse:\n  password: ${SECRET.clickhouse}: x\n`],
    ['a YAML password on a wrongly indented line', 'c.yaml', `clickhouse:\n  url: http://ch:8123\n    password: ${SECRET.clickhouse}\n`],
    ['a YAML key given twice', 'd.yaml', `clickhouse:\n  password: ${SECRET.clickhouse}\n  password: ${SECRET.clickhouse}\n`],
    ['a YAML tab before the secret', 'e.yaml', `receiver:\n  lvms:\n    apps:\n\t- {appKey: k, appSecret: ${SECRET.lvms}}\n`],
    ['a YAML flow mapping left open', 'f.yaml', `connectors:\n  tencent-ccc: {secretId: AKID, secretKey: ${SECRET.ccc}\n`],
    ['a YAML anchor of a secret used unknown', 'g.yaml', `clickhouse:\n  password: &p ${SECRET.clickhouse}\n  username: *q\n`],
    ['a YAML secret in a sequence where a string goes', 'h.yaml', `clickhouse:\n  password: [${SECRET.clickhouse}]\n`],
    ['a YAML secret as a typed value', 'i.yaml', `clickhouse:\n  password: !!binary ${Buffer.from(SECRET.clickhouse).toString('base64')}\n`],
    ['a JSON secret without quotes', 'a.json', `{"clickhouse":{"password":${SECRET.clickhouse}}}`],
    ['a JSON key given twice', 'b.json', `{"kafka":{"sasl":{"username":"u","password":"${SECRET.kafka}","password":"${SECRET.kafka}"}}}`],
    ['a JSON string with a raw line break', 'c.json', `{"connectors":{"tencent-ccc":{"secretId":"AKID","secretKey":"${SECRET.ccc}\n"}}}`],
    ['a JSON document cut short', 'd.json', `{"receiver":{"huawei":{"apps":[{"appKey":"k","appSecret":"${SECRET.huawei}"`],
    ['a JSON secret after a missing comma', 'e.json', `{"normalize":{"piiKey":"${SECRET.pii}" "x":1}}`],
    ['a JSON secret with a bad escape', 'f.json', `{"clickhouse":{"password":"${SECRET.clickhouse}\\q"}}`],
    ['a TRTC secret key of the wrong type', 'j.yaml', `connectors:\n  tencent-trtc:\n    apps: [{sdkAppId: ${SECRET.trtc}, secretKey: 1}]\n`],
    ['a PII key too short', 'l.yaml', `normalize:\n  piiKey: ${SECRET.pii.slice(0, 15)}\n`],
    ['a PII key of the wrong type beside an unknown key', 'm.yaml', `normalize:\n  piiKey: [${SECRET.pii}]\n  piiKye: ${SECRET.pii}\n`],
    ['a Huawei app whose mode is the secret', 'n.yaml', `receiver:\n  huawei:\n    apps: [{appKey: k, appSecret: ${SECRET.huawei}, mode: ${SECRET.huawei}}]\n`],
    ['a TRTC secret key as an unknown key of its app', 'p.yaml', `connectors:\n  tencent-trtc:\n    apps: [{sdkAppId: 1400000001, secretKey: x, ${SECRET.trtc}: 1}]\n`],
    ['a CCC secret key as an unknown key of its section', 'q.json', `{"connectors":{"tencent-ccc":{"secretId":"AKID","secretKey":"x","${SECRET.ccc}":true}}}`],
    ['a ClickHouse password as an unknown key', 'r.yaml', `clickhouse:\n  password: x\n  ${SECRET.clickhouse}: 1\n`],
    ['a Kafka password as an unknown key of sasl', 's.yaml', `kafka:\n  sasl:\n    username: u\n    password: x\n    ${SECRET.kafka}: 1\n`],
    ['a PII key as an unknown key of the mapping', 't.yaml', `normalize:\n  mapping:\n    ${SECRET.pii}: 1\n`],
    ['an LVMS app given twice', 'o.yaml', `receiver:\n  lvms:\n    apps: [{appKey: k, appSecret: ${SECRET.lvms}}, {appKey: k, appSecret: ${SECRET.lvms}}]\n`],
  ];
  it.each(fileCases)('%s: refused without the secret', (_name, name, body) => {
    expectNoSecret('the refusal', refusal({ file: file(name, body), env: {} }));
  });
});

describe('Tencent CCC poller against a vendor that refuses it', () => {
  const authFailure = JSON.stringify({ Response: { Error: { Code: 'AuthFailure.SignatureFailure', Message: 'The provided credentials could not be validated.' }, RequestId: 'r-1' } });
  const answers: [string, (req: IncomingMessage, res: ServerResponse) => void][] = [
    ['AuthFailure', text(200, authFailure, 'application/json')],
    ['401 with a text body', text(401, 'Unauthorized')],
    ['500 with HTML', text(500, '<html><body>Internal Server Error</body></html>', 'text/html')],
    ['200 garbage', text(200, 'garbage{{{', 'application/json')],
    ['200 without Response', text(200, '{"x":1}', 'application/json')],
    ['a dropped connection', (req) => req.socket.destroy()],
  ];
  it.each(answers)('%s: the error says so without the secret key', async (_name, answer) => {
    captureConsole();
    const { port, requests } = await loopback(answer);
    const client = new CccApiClient({ secretId: 'AKIDexample', secretKey: SECRET.ccc, endpoint: `127.0.0.1:${port}`, protocol: 'http', timeoutMs: 5000 });
    const err = await rejection(client.describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: 1, endTimeStamp: 2, pageSize: 10, pageNumber: 1 }));
    expect(err).toBeInstanceOf(Error);
    expect(requests).toHaveLength(1);
    expectNoSecret('the error', errorText(err));
  });
});

describe('Tencent TRTC poller against a vendor that refuses it', () => {
  const answers: [string, 'v1' | 'v4', (req: IncomingMessage, res: ServerResponse) => void][] = [
    ['v4 UserSig refused', 'v4', text(200, JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 70003, ErrorInfo: 'sig invalid', RequestId: 'r' }), 'application/json')],
    ['v4 UserSig expired', 'v4', text(200, JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 70001, ErrorInfo: 'sig expired', RequestId: 'r' }), 'application/json')],
    ['v1 auth failure', 'v1', text(200, JSON.stringify({ errorCode: 70009, errorMessage: 'bad sig', requestId: 'r' }), 'application/json')],
    ['401', 'v4', text(401, 'Unauthorized')],
    ['500', 'v1', text(500, 'upstream exploded')],
    ['garbage', 'v4', text(200, 'not json at all', 'application/json')],
    ['a dropped connection', 'v4', (req) => req.socket.destroy()],
  ];
  it.each(answers)('%s: the error says so without the secret key', async (_name, api, answer) => {
    captureConsole();
    const { port, requests } = await loopback(answer);
    const client = new TrtcApiClient({
      baseUrl: `http://127.0.0.1:${port}`, api, sdkAppId: 1400000001, secretKey: SECRET.trtc, identifier: 'administrator',
      timeoutMs: 5000, userSigValiditySec: 86_400, userSigRenewBeforeSec: 3600,
    });
    const err = await rejection(client.getRecordsByFilter({ startTimestamp: 1, endTimestamp: 2, page: 1, numberPerPage: 10 }));
    expect(err).toBeInstanceOf(Error);
    expect(requests).toHaveLength(1);
    expectNoSecret('the error', errorText(err));
  });
});

describe('Tencent TRTC: the UserSig in the request URL', () => {
  // The UserSig is a bearer credential (made from the secret key, valid for a day) and travels in the URL's query: a
  // proxy's error page or a vendor's error text that echoes the request, or an HTTP client's error, must not hand it on.
  const echo = (status: number, wrap: (url: string) => string, type = 'text/html') => (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': type });
    res.end(wrap(`${req.method} ${req.url} HTTP/1.1`));
  };
  const answers: [string, ((req: IncomingMessage, res: ServerResponse) => void) | 'refused'][] = [
    ['a proxy\'s 502 page quoting the request', echo(502, (line) => `<html><body>Bad gateway for ${line}</body></html>`)],
    ['a 200 that is no JSON, quoting the request', echo(200, (line) => `error: ${line}`, 'application/json')],
    ['the vendor\'s ErrorInfo quoting the request', echo(200, (line) => JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 70003, ErrorInfo: `bad sig in ${line}`, RequestId: 'r' }), 'application/json')],
    ['the vendor\'s ErrorInfo quoting the sig URL-encoded', (req, res) => echo(200, () => JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 70003, ErrorInfo: `bad ${encodeURIComponent(req.url ?? '')}`, RequestId: 'r' }), 'application/json')(req, res)],
    ['a dropped connection', (req) => req.socket.destroy()],
    ['a refused connection', 'refused'],
  ];
  it.each(answers)('%s: the error holds no part of the UserSig', async (_name, answer) => {
    captureConsole();
    const sigs: string[] = [];
    const take = UserSigCache.prototype.take;
    vi.spyOn(UserSigCache.prototype, 'take').mockImplementation(function (this: UserSigCache) {
      const taken = take.call(this);
      sigs.push(taken.sig);
      return taken;
    });
    let port: number;
    if (answer === 'refused') {
      const closed = createServer();
      closed.listen(0, '127.0.0.1');
      await once(closed, 'listening');
      port = (closed.address() as AddressInfo).port;
      closed.close();
      await once(closed, 'close');
    } else {
      ({ port } = await loopback(answer));
    }
    const client = new TrtcApiClient({
      baseUrl: `http://127.0.0.1:${port}`, api: 'v4', sdkAppId: 1400000001, secretKey: SECRET.trtc, identifier: 'administrator',
      timeoutMs: 5000, userSigValiditySec: 86_400, userSigRenewBeforeSec: 3600,
    });
    const err = await rejection(client.getRecordsByFilter({ startTimestamp: 1, endTimestamp: 2, page: 1, numberPerPage: 10 }));
    expect(sigs).toHaveLength(1);
    const said = errorText(err);
    const log = join(mkdtempSync(join(tmpdir(), 'cdrflow-secrets-log-')), 'log.jsonl');
    configureLogging({ level: 'debug', to: { file: log }, stderrFormat: 'json' }).child('connector.tencent-trtc')('info', 'poll.retry', { error: err.message, err, code: err.code });
    const sig = sigs[0]!;
    for (const [what, text] of [['the error', said], ['the log line', readFileSync(log, 'utf8')]] as const) {
      for (let i = 0; i + 8 <= sig.length; i += 4) {
        expect(text.includes(sig.slice(i, i + 8)), `${what} holds the UserSig's ${sig.slice(i, i + 8)}:\n${text.slice(0, 2000)}`).toBe(false);
      }
    }
    expectNoSecret('the error', said);
  });
});

describe('push receiver refusing a wrongly signed push', () => {
  const HUAWEI = { appKey: 'hwAppKey01', appSecret: SECRET.huawei, mode: 'AXB' as const };
  const LVMS = { appKey: '34567890', appSecret: SECRET.lvms };
  const dto = '{"call_record_id":9007199254740993123,"robot_call_job_id":5,"called_phone_number":"13800000000","result_status":"ANSWERED","chat_duration":42,"start_time":"2026-11-02 09:00:00"}';

  async function start() {
    const log = memoryLog();
    const registry = new Registry();
    const sink = new MemorySink();
    const r = await startReceiver(
      { port: 0, huawei: { apps: [HUAWEI], allowWsse: true, topics: { fee: 't.fee', events: 't.events' } }, lvms: { apps: [LVMS], topic: 't.lvms' } },
      { sink, log, registry },
    );
    receivers.push(r);
    const said = async () => [JSON.stringify(log.entries), await registry.metrics(), JSON.stringify(sink.envelopes('t.fee')), JSON.stringify(sink.envelopes('t.lvms'))].join('\n');
    return { r, log, said };
  }

  const huaweiCases: [string, Record<string, string>][] = [
    ['signed with another secret', huaweiAuthHeaders(HUAWEI.appKey, 'another-secret')],
    ['signed with another secret (WSSE)', huaweiAuthHeaders(HUAWEI.appKey, 'another-secret', { scheme: 'wsse' } as never)],
    ['of an unknown app', huaweiAuthHeaders('unknownApp', SECRET.huawei)],
    ['with a garbled header', { 'x-aksk': `UsernameToken Username="${HUAWEI.appKey}", PasswordDigest=` }],
    ['without a signature', {}],
  ];
  it.each(huaweiCases)('Huawei push %s: the answer, the log and the metrics hold no secret', async (_name, headers) => {
    const { r, said } = await start();
    const res = await fetch(`${r.url}/huawei/privatenumber/fee`, { method: 'POST', headers: { 'content-type': 'application/json;charset=UTF-8', ...headers }, body: '{"eventType":"fee","feeLst":[]}' });
    const body = await res.text();
    expect(res.status).toBe(401);
    expectNoSecret('the answer', `${JSON.stringify([...res.headers])}\n${body}`);
    expectNoSecret('what the receiver said', await said());
  });

  const lvmsCases: [string, Record<string, string>][] = [
    ['signed with another secret', {}],
    ['with a wrong sign', { sign: 'ABCDEF0123456789ABCDEF0123456789' }],
    ['with an unknown sign method', { sign_method: 'sha1' }],
  ];
  it.each(lvmsCases)('LVMS push %s: the answer, the log and the metrics hold no secret', async (name, params) => {
    const { r, said } = await start();
    const appSecret = name === 'signed with another secret' ? 'another-secret' : LVMS.appSecret;
    const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, appKey: LVMS.appKey, appSecret, dto, format: 'json', params });
    expect(res.success).toBe(false);
    expectNoSecret('the answer', res.body);
    expectNoSecret('what the receiver said', await said());
  });
});

describe('the schema registry refusing us', () => {
  // The registry client's error keeps the URL it asked in its own `url` field, and ours keeps that error as its cause:
  // whatever prints an error whole (the JSON logger, a cause's fields) must find no password there.
  const cases: [string, number, 'register' | 'read'][] = [
    ['registering, 401', 401, 'register'],
    ['registering, 404 without the registry\'s code', 404, 'register'],
    ['reading a writer schema, 401', 401, 'read'],
    ['reading a writer schema, 422', 422, 'read'],
  ];
  it.each(cases)('%s: the error, its causes and the log line hold no password', async (_name, status, what) => {
    captureConsole();
    const { port, requests } = await loopback(text(status, JSON.stringify({ error_code: status, message: 'refused' }), 'application/json'));
    const registry = createRegistry(`http://user:${SECRET.registry}@127.0.0.1:${port}/apis/ccompat/v7`);
    const err = what === 'register'
      ? await rejection(new TopicCodec(registry, TOPICS.normalized, SCHEMA_FILES.normalized).register())
      : classifyRegistryError(await fetchWriter(registry, 7, new RefusedWriters(registry)).then(() => undefined, (e: unknown) => e), 'reading writer schema 7');
    expect(requests.length).toBeGreaterThan(0);
    expectNoSecret('the error', errorText(err));
    const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-secrets-log-')), 'log.jsonl');
    const log = configureLogging({ level: 'debug', to: { file }, stderrFormat: 'json' }).child('registry');
    const cause = (err as Error).cause;
    log('info', 'registry.failed', { err, error: err, cause, errors: new AggregateError([err, cause], 'all of them') });
    const line = readFileSync(file, 'utf8');
    expect(line).toContain('registry.failed');
    expectNoSecret('the log line', line);
  });
});

describe('ClickHouse refusing the login', () => {
  const refused = 'Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED) (version 25.11.1.1)\n';
  it('the error, the client log and the status hold no password', async () => {
    captureConsole();
    const { port } = await loopback((_req, res) => {
      res.writeHead(516, { 'content-type': 'text/plain', 'x-clickhouse-exception-code': '516' });
      res.end(refused);
    });
    const config = loadAppConfig({ env: { CLICKHOUSE_URL: `http://127.0.0.1:${port}`, CLICKHOUSE_PASSWORD: SECRET.clickhouse, KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: SECRET.kafka, SCHEMA_REGISTRY_URL: `http://u:${SECRET.registry}@127.0.0.1:1/apis` } });
    const target = endpoints(config).clickhouse;
    expect(target).toMatchObject({ kind: 'http', password: SECRET.clickhouse });
    const log = memoryLog();
    const client = await createClickHouse(target, { log });
    try {
      const err = await clickhouseFigures(client, 'cdrflow').then(() => undefined, (e: unknown) => e);
      expect(errorText(err)).toMatch(/AUTHENTICATION_FAILED/);
      expectNoSecret('the error', errorText(err));
      expectNoSecret('the client log', JSON.stringify(log.entries));
      const snapshot: StatusSnapshot = {
        at: '2026-12-01T12:00:00.000Z', source: 'computed directly', pid: null, uptimeSec: null, demo: false, clickhouseTarget: describeTarget(target), components: {},
        intake: {}, normalize: { in: 0, out: 0, deadLettered: 0, lag: 0 }, sink: { in: 0, out: 0, deadLettered: 0, lag: 0 },
        clickhouse: { error: (err as Error).message }, checkpoints: [],
      };
      expectNoSecret('the status', `${formatStatus(snapshot)}\n${formatStatusLine(snapshot)}\n${JSON.stringify(snapshot)}`);
    } finally {
      await client.close();
    }
  });
});
