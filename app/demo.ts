// `start --demo`: the four vendor simulators with steady traffic and the connector / receiver configuration that
// points at them. Pull vendors serve a history plus live calls ending "now" (TC3 and UserSig verified, paged, rate
// limited); the push vendors send through the real receiver — Huawei with X-AKSK, re-pushes on any non-200 and
// duplicate batches, LVMS TOP-signed all three ways — with a share of malformed records that normalize dead-letters.
import { randomInt } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startCccSimulator, type CccSimulator } from '../simulators/tencent-ccc/index.ts';
import { startTrtcSimulator, type TrtcSimulator } from '../simulators/tencent-trtc/index.ts';
import { startHuaweiPusher, startRecordingApi, type HuaweiPusher, type HuaweiPusherStats } from '../simulators/huawei-privatenumber/index.ts';
import { startLvmsSubmitter, type LvmsSubmitter, type LvmsSubmitterStats } from '../simulators/alibaba-lvms/index.ts';
import type { CccConfigInput } from '../connectors/tencent-ccc/config.ts';
import type { TrtcConfigInput } from '../connectors/tencent-trtc/config.ts';
import { type ReceiverConfigInput } from '../connectors/push-vendors.ts';
import { applyNamespace, type AppConfig } from './config.ts';

export const DEMO_CREDENTIALS = {
  ccc: { secretId: 'AKIDdemo0000000000000000000000000000', secretKey: 'demo-ccc-secret-key-0000000000000', sdkAppIds: [1400000101, 1400000102] },
  trtc: { apps: [{ sdkAppId: 1600000101, secretKey: 'demo-trtc-sdk-secret-key-000000000000000000000000000000000000000' }] },
  huawei: { appKey: 'demo-huawei-app', appSecret: 'demo-huawei-secret', mode: 'AXB' as const },
  lvms: { appKey: 'demo-lvms-app', appSecret: 'demo-lvms-secret' },
};

/** Rough mean gap between generated calls (ms) and the longest call, per push generator (see their sources). */
const HUAWEI_STEP_MS = 3_100;
const HUAWEI_LONGEST_MS = 32 * 60_000;
const LVMS_STEP_MS = 4_250;
const LVMS_LONGEST_MS = 11 * 60_000;
const SLICE_SEC = 60;

export interface DemoTrafficStats {
  huawei: Omit<HuaweiPusherStats, 'inFlight' | 'waiting'>;
  lvms: LvmsSubmitterStats;
  /** Pushes the flaky network in front of the receiver refused (the vendors retried them). */
  networkRefusals: number;
  /** Requests a simulator failed on itself (answered 500 and logged; the job went on). */
  simulatorFailures?: number;
}

/**
 * A flaky network between the push vendors and the receiver: a share of requests is answered 503 without reaching
 * the receiver, so the vendors' retry paths (Huawei's re-push schedule, LVMS' backoff) run in the demo too.
 */
export async function startFlakyProxy(target: string, refuseRate: number, random: () => number = Math.random): Promise<{ url: string; refused: () => number; close: () => Promise<void> }> {
  const to = new URL(target);
  let refused = 0;
  const server: Server = createServer((req, res) => {
    if (random() < refuseRate) {
      refused++;
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('upstream unavailable (simulated network fault)\n');
      return;
    }
    const upstream = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}\n`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface DemoVendors {
  connectors: { 'tencent-ccc': CccConfigInput; 'tencent-trtc': TrtcConfigInput };
  receiver: ReceiverConfigInput;
  ccc: CccSimulator;
  trtc: TrtcSimulator;
  /** Starts the push traffic against the running receiver (through the flaky network when configured). */
  startPushTraffic(receiverUrl: string): Promise<void>;
  stats(): DemoTrafficStats;
  /** Stops generating and pushing (intake first); `close` then stops the simulator servers. */
  stopTraffic(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How to point the one-shot commands (backfill, poll, recording) at the running demo's simulators: their addresses
 * and the demo's credentials (fixed, public, accepted only by the simulators), as commands to copy.
 */
/**
 * The commands the demo prints to try in another terminal. The backfills read the demo's history (`history`: the
 * range the simulators were filled with at start, Unix seconds), cut to whole minutes inside it, in 5-minute windows
 * so the progress line moves; with no history (`demo.historyMinutes: 0`) there is nothing to backfill yet, and the
 * lines say so instead of naming a range the simulators never served.
 */
export function demoTryLines(d: {
  ccc: { endpoint: string; protocol: string; connectAddress: string };
  trtcUrl: string;
  recordingApiUrl: string;
  history: { fromSec: number; toSec: number } | undefined;
}): string[] {
  const minute = (s: number) => new Date(s * 1000).toISOString().replace(':00.000Z', 'Z');
  const from = d.history && Math.ceil(d.history.fromSec / 60) * 60;
  const to = d.history && Math.floor(d.history.toSec / 60) * 60;
  const range = from !== undefined && to !== undefined && to > from ? `--from ${minute(from)} --to ${minute(to)} --window-sec 300` : undefined;
  const c = DEMO_CREDENTIALS;
  return [
    'demo: the simulators take the demo credentials below (public, accepted by nothing else); try, in another terminal:',
    ...(range
      ? [
          `  TENCENT_CCC_SECRET_ID=${c.ccc.secretId} TENCENT_CCC_SECRET_KEY=${c.ccc.secretKey} TENCENT_CCC_SDKAPPIDS=${c.ccc.sdkAppIds.join(',')} \\`,
          `    npx cdrflow backfill tencent-ccc --tenant ${c.ccc.sdkAppIds[0]} ${range} --endpoint ${d.ccc.endpoint} --protocol ${d.ccc.protocol} --connect-address ${d.ccc.connectAddress}`,
          `  TENCENT_TRTC_APPS=${c.trtc.apps.map((a) => `${a.sdkAppId}:${a.secretKey}`).join(',')} \\`,
          `    npx cdrflow backfill tencent-trtc --tenant ${c.trtc.apps[0]!.sdkAppId} ${range} --base-url ${d.trtcUrl}`,
        ]
      : ['  (no demo history to backfill: demo.historyMinutes is 0)']),
    `  CDRFLOW_HUAWEI_APPS='${JSON.stringify([{ appKey: c.huawei.appKey, appSecret: c.huawei.appSecret }])}' HUAWEI_BASE_URL=${d.recordingApiUrl} \\`,
    `    npx cdrflow recording "$(npx cdrflow sql "SELECT cdr_id FROM cdr FINAL WHERE vendor = 'huawei-privatenumber' AND recording_ref IS NOT NULL LIMIT 1" --format TSV)"`,
    `  replay needs \`cdrflow start\` stopped (it resets the stages' consumer groups); sql, status, tail and dlq work while it runs`,
  ];
}

export async function startDemoVendors(config: AppConfig, log: (msg: string) => void): Promise<DemoVendors> {
  const demo = config.demo;
  const seed = demo.seed ?? randomInt(1, 2 ** 31 - 1);
  const perVendor = demo.callsPerSecond / 4;
  const nowSec = Math.floor(Date.now() / 1000);

  const ccc = await startCccSimulator({ credentials: { [DEMO_CREDENTIALS.ccc.secretId]: DEMO_CREDENTIALS.ccc.secretKey }, sdkAppIds: DEMO_CREDENTIALS.ccc.sdkAppIds, seed });
  const trtcApps = Object.fromEntries(DEMO_CREDENTIALS.trtc.apps.map((a) => [a.sdkAppId, a.secretKey]));
  const trtc = await startTrtcSimulator({ apps: trtcApps, seed: (seed + 1) >>> 0 });
  // A history the first poll reads at once (the connectors start `historyMinutes` back), then live calls.
  const history = demo.historyMinutes > 0 ? { fromSec: nowSec - demo.historyMinutes * 60, toSec: nowSec - 60 } : undefined;
  if (history) {
    const perTenant = (tenants: number) => Math.max(1, Math.round((demo.historyMinutes * 60 * perVendor) / tenants));
    ccc.dataset.generateRange(history.fromSec, history.toSec, perTenant(DEMO_CREDENTIALS.ccc.sdkAppIds.length));
    trtc.dataset.generateRange(history.fromSec, history.toSec, perTenant(DEMO_CREDENTIALS.trtc.apps.length));
  }
  ccc.dataset.startLive(perVendor, Date.now);
  trtc.dataset.startLive(perVendor, Date.now);
  // The receiver resolves Huawei recording links (301 Location) against a stand-in of the recording API.
  // A failure inside the stand-in is logged and counted, never thrown into the job (recording-api.ts).
  const recordingApi = await startRecordingApi([DEMO_CREDENTIALS.huawei], {
    onError: (err) => log(`demo: Huawei recording API stand-in failed on a request (answered 500, job goes on): ${err instanceof Error ? err.message : String(err)}`),
  });
  log(`demo: CCC simulator ${ccc.url}, TRTC simulator ${trtc.url}, Huawei recording API ${recordingApi.url}, ${demo.callsPerSecond} calls/s over 4 vendors, seed ${seed}`);
  for (const line of demoTryLines({ ccc: ccc.connection, trtcUrl: trtc.url, recordingApiUrl: recordingApi.url, history })) log(line);

  // Polling tuned for a demo: short interval and settle delay; the re-read still spans the simulators' longest calls
  // and latest records (lookback + maxCall), so nothing is missed; re-read records that did not change are not
  // published again (the pollers' cache of acked keys).
  const polling = {
    pollIntervalSec: demo.pollIntervalSec,
    settleSec: demo.settleSec,
    lookbackSec: 1_500,
    initialLookbackSec: Math.max(demo.historyMinutes * 60, 300),
  };
  const connectors = {
    'tencent-ccc': {
      ...(config.connectors['tencent-ccc']?.topics ? { topics: config.connectors['tencent-ccc'].topics } : {}),
      secretId: DEMO_CREDENTIALS.ccc.secretId,
      secretKey: DEMO_CREDENTIALS.ccc.secretKey,
      sdkAppIds: DEMO_CREDENTIALS.ccc.sdkAppIds,
      ...ccc.connection,
      ...polling,
      maxCallSec: 3_700,
    },
    'tencent-trtc': {
      ...(config.connectors['tencent-trtc']?.topics ? { topics: config.connectors['tencent-trtc'].topics } : {}),
      // The simulator serves both call-record APIs; the demo app polls v4 (the default for new apps).
      baseUrl: trtc.url,
      apps: DEMO_CREDENTIALS.trtc.apps,
      ...polling,
      maxCallSec: 5_500,
    },
  } satisfies DemoVendors['connectors'];

  const receiver: ReceiverConfigInput = {
    ...(config.receiver ?? {}),
    // Any free port unless one was configured: the pushers are told where it is.
    port: config.receiver?.port ?? 0,
    huawei: {
      ...(config.receiver?.huawei ?? {}),
      apps: [DEMO_CREDENTIALS.huawei],
      recordingLinks: { ...(config.receiver?.huawei?.recordingLinks ?? {}), enabled: true, baseUrl: recordingApi.url },
    },
    lvms: { ...(config.receiver?.lvms ?? {}), apps: [DEMO_CREDENTIALS.lvms] },
  };

  // Topic names follow the namespace like configured sections do (the sections above are generated, not read).
  if (config.namespace) applyNamespace({ namespace: config.namespace, connectors, receiver });

  // Push generators walk their own clock a few seconds per call; each one-minute slice gets a fresh generator whose
  // calls end by now, so call times stay close to the wall clock however long the demo runs.
  const huaweiDone: HuaweiPusherStats[] = [];
  const lvmsDone: LvmsSubmitterStats[] = [];
  const huaweiActive = new Set<HuaweiPusher>();
  const lvmsActive = new Set<LvmsSubmitter>();
  let slice = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let proxy: Awaited<ReturnType<typeof startFlakyProxy>> | undefined;

  const startSlice = (receiverUrl: string) => {
    if (stopped) return;
    const index = slice++;
    const records = Math.max(1, Math.round(perVendor * SLICE_SEC));
    const now = Date.now();
    const pusher = startHuaweiPusher({
      url: `${receiverUrl}${config.receiver?.huawei?.feePath ?? '/huawei/privatenumber/fee'}`,
      appKey: DEMO_CREDENTIALS.huawei.appKey,
      appSecret: DEMO_CREDENTIALS.huawei.appSecret,
      mode: DEMO_CREDENTIALS.huawei.mode,
      seed: (seed + 7919 * (index + 1)) >>> 0,
      totalRecords: records,
      recordsPerSecond: perVendor,
      minBatch: 1,
      maxBatch: Math.max(1, Math.min(50, Math.round(perVendor * 5))),
      duplicateRate: demo.duplicateRate,
      malformedRate: demo.malformedRate,
      // Huawei re-pushes after 1, 4, 9… minutes; a demo shows it in seconds.
      timeScale: 0.01,
      startMs: now - records * HUAWEI_STEP_MS - HUAWEI_LONGEST_MS,
    });
    huaweiActive.add(pusher);
    void pusher.done.then((s) => {
      huaweiActive.delete(pusher);
      huaweiDone.push(s);
    });
    const submitter = startLvmsSubmitter({
      url: `${receiverUrl}${config.receiver?.lvms?.path ?? '/router/rest'}`,
      appKey: DEMO_CREDENTIALS.lvms.appKey,
      appSecret: DEMO_CREDENTIALS.lvms.appSecret,
      seed: (seed + 104729 * (index + 1)) >>> 0,
      totalRecords: records,
      recordsPerSecond: perVendor,
      concurrency: 2,
      malformedRate: demo.malformedRate,
      startMs: now - records * LVMS_STEP_MS - LVMS_LONGEST_MS,
    });
    lvmsActive.add(submitter);
    void submitter.done.then((s) => {
      lvmsActive.delete(submitter);
      lvmsDone.push(s);
    });
  };

  const sumHuawei = (all: HuaweiPusherStats[]): DemoTrafficStats['huawei'] => {
    const out = { batches: 0, recordsGenerated: 0, attempts: 0, acceptedBatches: 0, acceptedRecords: 0, failures: {} as Record<string, number>, retries: 0, duplicatesPushed: 0, gaveUpBatches: 0, gaveUpRecords: 0, abandonedOnStop: 0, unacceptedOnStop: 0 };
    for (const s of all) {
      for (const k of ['batches', 'recordsGenerated', 'attempts', 'acceptedBatches', 'acceptedRecords', 'retries', 'duplicatesPushed', 'gaveUpBatches', 'gaveUpRecords', 'abandonedOnStop', 'unacceptedOnStop'] as const) out[k] += s[k];
      for (const [code, c] of Object.entries(s.failures)) out.failures[code] = (out.failures[code] ?? 0) + c;
    }
    return out;
  };
  const sumLvms = (all: LvmsSubmitterStats[]): LvmsSubmitterStats => {
    const out: LvmsSubmitterStats = { sent: 0, accepted: 0, rejected: 0, retries: 0, failedAfterRetries: 0, bySignMethod: { md5: 0, hmac: 0, 'hmac-sha256': 0 } };
    for (const s of all) {
      for (const k of ['sent', 'accepted', 'rejected', 'retries', 'failedAfterRetries'] as const) out[k] += s[k];
      for (const m of ['md5', 'hmac', 'hmac-sha256'] as const) out.bySignMethod[m] += s.bySignMethod[m];
    }
    return out;
  };

  return {
    connectors,
    receiver,
    ccc,
    trtc,
    async startPushTraffic(receiverUrl) {
      let target = receiverUrl;
      if (demo.flakyPushRate > 0) {
        proxy = await startFlakyProxy(receiverUrl, demo.flakyPushRate);
        target = proxy.url;
      }
      startSlice(target);
      timer = setInterval(() => startSlice(target), SLICE_SEC * 1000);
      timer.unref();
      log(`demo: Huawei pusher and LVMS submitter sending to ${receiverUrl}${proxy ? ` through a network that refuses ${Math.round(demo.flakyPushRate * 100)}% of pushes (${proxy.url})` : ''}`);
    },
    stats: () => ({
      huawei: sumHuawei([...huaweiDone, ...[...huaweiActive].map((p) => p.stats())]),
      lvms: sumLvms([...lvmsDone, ...[...lvmsActive].map((s) => s.stats())]),
      networkRefusals: proxy?.refused() ?? 0,
      simulatorFailures: recordingApi.failures,
    }),
    async stopTraffic() {
      stopped = true;
      if (timer) clearInterval(timer);
      ccc.dataset.stopLive();
      trtc.dataset.stopLive();
      await Promise.all([...[...huaweiActive].map((p) => p.stop()), ...[...lvmsActive].map((s) => s.stop())]);
      await proxy?.close();
    },
    async close() {
      await Promise.all([ccc.stop(), trtc.stop(), recordingApi.close()]);
    },
  };
}
