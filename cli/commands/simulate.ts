// `cdrflow simulate <vendor>`: one vendor simulator standalone, for trying a connector or receiver against it
// (`cdrflow poll`, `cdrflow receive`) without real credentials. Runs until SIGINT/SIGTERM.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { httpUrl, integer, numberWithin, parseFlags, port } from '../args.ts';
import { untilSignal } from '../signals.ts';
import { listenError } from '../../core/errors.ts';
import { settingExit } from '../app-config.ts';
import { EXIT_UNAVAILABLE } from '../../core/exit-codes.ts';
import { startCccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { startTrtcSimulator } from '../../simulators/tencent-trtc/index.ts';
import { HUAWEI_RETRY_SCHEDULE_MINUTES, startHuaweiPusher } from '../../simulators/huawei-privatenumber/index.ts';
import { startLvmsSubmitter } from '../../simulators/alibaba-lvms/index.ts';
import { MAX_SEED } from '../../simulators/kit.ts';
import { DEMO_CREDENTIALS } from '../../app/demo.ts';
import { quote } from '../../core/input-limits.ts';

const VENDORS = ['tencent-ccc', 'tencent-trtc', 'huawei-privatenumber', 'alibaba-lvms'] as const;

/** Calls (or records) per second a simulator makes. */
const MAX_RATE = 5_000;
/** Calls already in a pull simulator's history at start (--history × --rate). */
const MAX_HISTORY_RECORDS = 2_000_000;
/** Minutes of history a pull simulator starts with: a day, as the demo's. */
const MAX_HISTORY_MINUTES = 24 * 60;

const usage = `Usage: cdrflow simulate <tencent-ccc|tencent-trtc|huawei-privatenumber|alibaba-lvms> [options]

Pull vendors (an API server the connector polls; TC3 / UserSig verified, paging, rate limits, documented errors):
  --port N        listen port (default: any free port, printed)
  --rate N        new calls per second, ending "now" (default 1, at most ${MAX_RATE.toLocaleString('en-US')})
  --history N     minutes of calls already there at start (default 60, at most ${MAX_HISTORY_MINUTES.toLocaleString('en-US')}; that many minutes of
                  --rate may hold ${MAX_HISTORY_RECORDS.toLocaleString('en-US')} calls at most)
Push vendors (a client pushing signed records to a receiver, with the vendor's retries and duplicates):
  --to URL        the receiver's base URL (default http://127.0.0.1:8088)
  --rate N        records per second (default 1, at most ${MAX_RATE.toLocaleString('en-US')})
  --total N       end by itself once N records were sent (default: until Ctrl-C)
  --malformed R   share of records wrong inside, for the dead-letter path (default 0.02)
Common:
  --seed N        reproducible traffic: an integer 0..${MAX_SEED} (default: random)

The credentials it accepts or signs with are printed at start; the same ones \`cdrflow start --demo\` uses.
Huawei pushes are retried on Huawei's schedule: ${HUAWEI_RETRY_SCHEDULE_MINUTES.slice(0, -1).join(', ')} and ${HUAWEI_RETRY_SCHEDULE_MINUTES.at(-1)} minutes after the first refusal (Ctrl-C ends the wait).
Exit status: 0; ${EXIT_UNAVAILABLE} a push client gave up on records the receiver never accepted, or was stopped while
still retrying records it refused; 64 usage; 78 a taken --port.`;

const FLAGS = {
  port: { type: 'string' },
  rate: { type: 'string' },
  history: { type: 'string' },
  to: { type: 'string' },
  total: { type: 'string' },
  malformed: { type: 'string' },
  seed: { type: 'string' },
} as const;


function parse(args: string[]) {
  const { values, positionals } = parseFlags(args, FLAGS, { maxPositionals: 1 });
  const [vendor] = positionals;
  if (!vendor) throw new UsageError(`name a vendor: ${VENDORS.join(', ')}`);
  if (!(VENDORS as readonly string[]).includes(vendor)) throw new UsageError(`unknown vendor ${quote(vendor)}; use one of ${VENDORS.join(', ')}`);
  // Bounded, so a typo cannot take the machine: --history 10000000 took 4 GB in 40 s and never listened, --rate 1e9 a
  // whole core with no output (an operator walk). The demo's history is at most a day too.
  const rate = values.rate === undefined ? 1 : numberWithin('--rate', values.rate, 0.001, MAX_RATE);
  const history = values.history === undefined ? 60 : numberWithin('--history', values.history, 0, MAX_HISTORY_MINUTES);
  // A count of records: 2.5 was taken, and the last batch was sized 0.5.
  const total = values.total === undefined ? undefined : integer('--total', values.total, { min: 1 });
  // The generators' PRNG takes the seed as 32 bits: 1.5 was taken, and 2^32 drew the same sequence as 0.
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : integer('--seed', values.seed, { min: 0, max: MAX_SEED });
  const pull = vendor === 'tencent-ccc' || vendor === 'tencent-trtc';
  if (pull && rate * history * 60 > MAX_HISTORY_RECORDS) {
    throw new UsageError(
      `--history ${history} at --rate ${rate} is ${Math.round(rate * history * 60).toLocaleString('en-US')} calls at start; at most ${MAX_HISTORY_RECORDS.toLocaleString('en-US')}`,
    );
  }
  // A flag of the other kind of simulator did nothing, silently (an operator walk): refused, naming who takes it.
  for (const flag of pull ? (['to', 'total', 'malformed'] as const) : (['port', 'history'] as const)) {
    if (values[flag] !== undefined)
      throw new UsageError(
        `--${flag} applies to the ${pull ? 'push vendors (huawei-privatenumber, alibaba-lvms)' : 'pull vendors (tencent-ccc, tencent-trtc)'} only`,
      );
  }
  const to = httpUrl('--to', values.to ?? 'http://127.0.0.1:8088', "the receiver's base URL (http://host:port)").replace(/\/$/, '');
  return {
    vendor: vendor as (typeof VENDORS)[number],
    port: values.port === undefined ? 0 : port('--port', values.port),
    rate,
    history,
    to,
    total,
    malformed: values.malformed === undefined ? 0.02 : numberWithin('--malformed', values.malformed, 0, 1),
    seed,
  };
}

export const command: Command = {
  name: 'simulate',
  summary: 'run one vendor simulator standalone (pull API server or push client) with steady traffic',
  usage,
  async run(args) {
    try {
      return await simulate(parse(args));
    } catch (err) {
      // A taken --port: one line and exit 78, as for the job's own ports (it was the raw EADDRINUSE, exit 1).
      throw settingExit(listenError(err, `127.0.0.1:${(err as { port?: unknown }).port ?? '?'}`, '--port')) ?? err;
    }
  },
};

async function simulate(o: ReturnType<typeof parse>): Promise<number> {
  const nowSec = Math.floor(Date.now() / 1000);
  const print = (msg: string) => console.error(`simulate ${o.vendor}: ${msg}`);
  let stop: () => Promise<unknown>;
  let report: () => string;
  // The push clients' records the receiver never took, after the vendor's own retries (0 for the pull servers).
  let undelivered = () => 0;
  // A push client given --total ends once it was all sent; every other simulator runs until stopped.
  let finished: Promise<unknown> | undefined;
  if (o.vendor === 'tencent-ccc') {
    const c = DEMO_CREDENTIALS.ccc;
    const sim = await startCccSimulator({
      port: o.port,
      credentials: { [c.secretId]: c.secretKey },
      sdkAppIds: c.sdkAppIds,
      seed: o.seed,
    });
    if (o.history > 0)
      sim.dataset.generateRange(
        nowSec - o.history * 60,
        nowSec - 60,
        Math.round((o.history * 60 * o.rate) / c.sdkAppIds.length),
      );
    sim.dataset.startLive(o.rate, Date.now);
    print(`listening on ${sim.url}`);
    print(
      `TENCENT_CCC_SECRET_ID=${c.secretId} TENCENT_CCC_SECRET_KEY=${c.secretKey} TENCENT_CCC_SDKAPPIDS=${c.sdkAppIds.join(',')} \\\n  npx cdrflow poll tencent-ccc --endpoint ${sim.connection.endpoint} --protocol http --connect-address 127.0.0.1`,
    );
    stop = () => sim.stop();
    report = () =>
      `${sim.dataset.size} calls, ${sim.stats.requests} requests, ${sim.stats.recordsServed} records served, errors ${JSON.stringify(Object.fromEntries(sim.stats.errors))}`;
  } else if (o.vendor === 'tencent-trtc') {
    const apps = DEMO_CREDENTIALS.trtc.apps;
    const sim = await startTrtcSimulator({
      port: o.port,
      apps: Object.fromEntries(apps.map((a) => [a.sdkAppId, a.secretKey])),
      seed: o.seed,
    });
    if (o.history > 0)
      sim.dataset.generateRange(
        nowSec - o.history * 60,
        nowSec - 60,
        Math.round((o.history * 60 * o.rate) / apps.length),
      );
    sim.dataset.startLive(o.rate, Date.now);
    print(`listening on ${sim.url}`);
    print(
      `TENCENT_TRTC_APPS=${apps.map((a) => `${a.sdkAppId}:${a.secretKey}`).join(',')} npx cdrflow poll tencent-trtc --base-url ${sim.url}`,
    );
    stop = () => sim.stop();
    report = () =>
      `${sim.dataset.size} calls, ${sim.stats.requests} requests, ${sim.stats.recordsServed} records served, errors ${JSON.stringify(Object.fromEntries(sim.stats.errors))}`;
  } else if (o.vendor === 'huawei-privatenumber') {
    const h = DEMO_CREDENTIALS.huawei;
    print(
      `pushing to ${o.to}/huawei/privatenumber/fee as appKey ${h.appKey}; receiver: CDRFLOW_HUAWEI_APPS='[{"appKey":"${h.appKey}","appSecret":"${h.appSecret}","mode":"${h.mode}"}]' npx cdrflow receive`,
    );
    const pusher = startHuaweiPusher({
      url: `${o.to}/huawei/privatenumber/fee`,
      appKey: h.appKey,
      appSecret: h.appSecret,
      mode: h.mode,
      seed: o.seed,
      recordsPerSecond: o.rate,
      malformedRate: o.malformed,
      duplicateRate: 0.05,
      startMs: Date.now() - 3_600_000,
      ...(o.total === undefined ? {} : { totalRecords: o.total }),
    });
    stop = () => pusher.stop();
    report = () => JSON.stringify(pusher.stats());
    // Given up after Huawei's retries, or refused and still being retried when stopped: never accepted either way.
    undelivered = () => pusher.stats().gaveUpRecords + pusher.stats().unacceptedOnStop;
    if (o.total !== undefined) finished = pusher.done;
  } else {
    const l = DEMO_CREDENTIALS.lvms;
    print(
      `submitting to ${o.to}/router/rest as app_key ${l.appKey}; receiver: CDRFLOW_LVMS_APPS='[{"appKey":"${l.appKey}","appSecret":"${l.appSecret}"}]' npx cdrflow receive`,
    );
    const submitter = startLvmsSubmitter({
      url: `${o.to}/router/rest`,
      appKey: l.appKey,
      appSecret: l.appSecret,
      seed: o.seed,
      recordsPerSecond: o.rate,
      malformedRate: o.malformed,
      startMs: Date.now() - 3_600_000,
      ...(o.total === undefined ? {} : { totalRecords: o.total }),
    });
    stop = () => submitter.stop();
    report = () => JSON.stringify(submitter.stats());
    undelivered = () => submitter.stats().failedAfterRetries;
    if (o.total !== undefined) finished = submitter.done;
  }
  const timer = setInterval(() => print(report()), 10_000);
  const signal = await Promise.race([untilSignal('simulate'), ...(finished ? [finished.then(() => undefined)] : [])]);
  clearInterval(timer);
  if (signal) print(`${signal}: stopping`);
  await stop();
  print(report());
  // A push client that could not deliver says so in its exit status, not only in the stats line: a script that runs
  // `simulate … --total N` against a receiver that is down learned nothing from exit 0 (an operator walk).
  const lost = undelivered();
  if (lost === 0) return 0;
  print(`${lost} record(s) were never accepted by ${o.to} (given up after the vendor's retries, or refused and still being retried when stopped): is the receiver running there?`);
  return EXIT_UNAVAILABLE;
}
