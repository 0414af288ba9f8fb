// Realistic Huawei PrivateNumber fee records (FeeInfo, every documented field) and the call events of the same calls,
// reproducible from a seed. Unanswered calls walk through every documented release point (ulFailReason) in turn,
// with a matching Q.850 cause and SIP status, so a run of a few hundred records covers the whole code table.
// With `malformedRate` > 0 some records are wrong inside (no sessionId, an impossible time, a text direction):
// valid pushes that the receiver stores and normalize must dead-letter.
import { Rng, seededRandom } from '../kit.ts';

export type FeeRecord = Record<string, string | number>;

// The stand-in's tables are spelled out from the vendor's pages, not taken from the connector or normalize: a code
// misspelt or dropped there must still be sent here, so that the tests fed by this generator catch it.

/** The binding modes whose fee notifications vendors.md §4 ("Sources", "FeeInfo fields") describes. */
export const HUAWEI_BINDING_MODES = ['AX', 'AXB', 'AXE', 'X', 'AXYB'] as const;
export type HuaweiMode = (typeof HUAWEI_BINDING_MODES)[number];

/**
 * Release points (ulFailReason) and their meanings, vendors.md §4 "Code tables", "Release point (ulFailReason): 69
 * values, plus the 8102–8105 tail" (privatenumber_02_0019). Ranges and shared rows of that table written out one code
 * each. The hang-up reasons only the stateCode table lists (8030–8032, 8139) are not release points and not sent.
 */
export const HUAWEI_RELEASE_POINTS: Readonly<Record<number, string>> = {
  0: 'Hung up normally after connect',
  522: 'Voice ports insufficient',
  7001: 'Developer call-frequency control',
  7002: 'App call-frequency control',
  7003: 'Display-number call-frequency control',
  7004: 'Callee blacklist',
  7005: 'Caller blacklist',
  7100: 'App info missing',
  7101: 'App has no privacy-number resources',
  7102: 'Internal error',
  7103: 'Caller info missing',
  7104: 'AX binding missing',
  7105: 'Service type mismatch',
  7106: 'App lacks privacy-call capability',
  7107: 'Security-control prompt playback failed',
  7108: 'User frozen',
  7109: 'Voice ports insufficient',
  7500: 'Call prefix restricted',
  7501: 'Caller hung up before the callee rang',
  7502: 'Caller hung up after the callee rang',
  7503: 'Callee hung up / rejected',
  7504: 'Call refused (rejection, DND, blacklist, interception app)',
  7505: 'Caller-side network error',
  7506: 'Callee-side network error (e.g. bad bound-number format)',
  7507: 'No playback file',
  7508: 'Routing failure',
  7516: 'Caller hung up before the forward (e.g. AXE extension not entered)',
  8002: 'Far end returned failure tone',
  8003: 'Ringing timeout',
  8004: 'Hung up while ringing',
  8005: 'TTS failed',
  8006: 'Playback file missing',
  8007: 'Playback failed',
  8008: 'Digit collection failed',
  8009: 'Caller hung up before connect',
  8010: 'Max call duration reached',
  8011: 'Internal error',
  8012: 'Invalid app_key',
  8013: 'Invalid AX call (binding exists but no temporary callee)',
  8014: 'Invalid AXB call',
  8015: 'Recording failed',
  8016: 'Call direction not allowed',
  8018: 'No permission / no AX binding',
  8019: 'No callback record (AXE/AX, A calls X)',
  8020: 'Business exception',
  8022: 'Binding missing or expired (AXE, B calls X)',
  8023: 'Fixed-line caller not allowed',
  8024: 'Real-caller display not allowed',
  8025: 'X number missing (AXE)',
  8033: 'Empty extension received',
  8035: 'Callee did not answer (platform timeout, about 90 s after the forward)',
  8040: 'Internal error',
  8041: 'Recording failed',
  8042: 'International inbound restricted',
  8043: 'International outbound restricted',
  8044: 'Abnormal call-time control',
  8046: 'Abnormal connect-rate control',
  8047: 'Caller frequency control',
  8048: 'Callee frequency control',
  8049: 'Service-number frequency control',
  8050: 'Time-window restriction',
  8051: 'Sub-enterprise paused',
  8055: 'X number has no call/SMS right',
  8056: 'Dial-test number control',
  8057: 'Direction control',
  8058: 'Practitioner not real-name verified',
  8059: 'Carrier interception',
  8100: 'Callee number does not exist',
  8101: 'Callee no answer (carrier timeout)',
  8102: 'Callee busy',
  8103: 'Callee temporarily unreachable / signal abnormal',
  8104: 'Callee powered off / airplane mode / no network',
  8105: 'Callee suspended',
};

export interface HuaweiGeneratorOptions {
  seed: number;
  appKey: string;
  mode?: HuaweiMode;
  /** Call start of the first record (epoch ms); later calls follow a few seconds apart. */
  startMs?: number;
  /** Share of records that are wrong inside (for the dead-letter path). */
  malformedRate?: number;
}

const FAILURE_CODES = Object.keys(HUAWEI_RELEASE_POINTS).map(Number).filter((c) => c !== 0 && c !== 8010);

/**
 * Release points that say there is no binding: the fee record then carries an empty subscriptionId (Huawei's FAQ "为什么
 * 话单通知接口推送的subscriptionId(绑定ID)是空的?": no binding between the numbers and X, e.g. release point 8014).
 */
const NO_BINDING_CODES: ReadonlySet<number> = new Set([7104, 8014, 8018, 8022]);

/** Q.850 cause and SIP status that a switch would report together with a release point. */
function causesFor(code: number, rng: Rng): { q850: number; sip: number } {
  switch (code) {
    case 8102:
      return { q850: 17, sip: 486 };
    case 8101:
    case 8035:
    case 8003:
      return { q850: 19, sip: 480 };
    case 7503:
    case 7504:
      return { q850: 21, sip: 603 };
    case 8100:
      return { q850: 1, sip: 404 };
    case 8104:
    case 8103:
      return { q850: 20, sip: 480 };
    case 8105:
      return { q850: 27, sip: 503 };
    case 7501:
    case 7502:
    case 8004:
    case 8009:
    case 7516:
      return { q850: 16, sip: 487 };
    default:
      return { q850: rng.pick([31, 34, 38, 41, 47, 63, 127]), sip: rng.pick([500, 503, 403, 404]) };
  }
}

/** Huawei writes every time as a naive UTC string. */
export function huaweiTime(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
}

export class HuaweiFeeGenerator {
  private readonly rng: Rng;
  private seq = 0;
  private failureCursor = 0;
  private clock: number;
  private readonly tag: string;

  constructor(private readonly opts: HuaweiGeneratorOptions) {
    this.rng = new Rng(seededRandom(opts.seed));
    this.clock = opts.startMs ?? Date.UTC(2026, 10, 2, 1, 0, 0);
    // Different seeds must never produce the same sessionId (two demo pushers into one topic).
    this.tag = (opts.seed >>> 0).toString(36);
  }

  next(): FeeRecord {
    const rng = this.rng;
    const seq = this.seq++;
    this.clock += rng.int(200, 6000);
    const callIn = this.clock;
    const host = `callenabler${rng.int(200, 260)}.huaweicaas.com`;
    const answered = rng.chance(0.55);
    const fwdStart = callIn + rng.int(300, 2500);
    const alerting = fwdStart + rng.int(500, 3000);
    const ringFor = rng.int(2, 40) * 1000;
    const caller = `+86${rng.pick(['138', '139', '186', '150', '177'])}${rng.digits(8)}`;
    const bindNum = `+86170${rng.digits(8)}`;
    const callee = `+86${rng.pick(['135', '136', '187', '158'])}${rng.digits(8)}`;
    const mode = this.opts.mode ?? 'AXB';
    const record: FeeRecord = {
      // 2 is an abnormal call such as one without binding data (vendors.md §4 FeeInfo `direction`): there is no forward
      // to answer, so it is never an answered (billed, recorded) call.
      direction: answered ? rng.weighted([[1, 6], [0, 3]] as const) : rng.weighted([[1, 6], [0, 3], [2, 1]] as const),
      spId: `sp_${this.opts.appKey.slice(0, 8)}`,
      appKey: this.opts.appKey,
      icid: `ba171f34e6953fcd751edc77127748f4.${rng.digits(10)}.${rng.digits(9)}.${seq % 10}`,
      bindNum,
      sessionId: `1200_${this.tag}_${seq}_${huaweiTime(callIn).replace(/[- :]/g, '')}@${host}`,
      subscriptionId: rng.uuid(),
      callerNum: caller,
      calleeNum: bindNum,
      fwdDisplayNum: mode === 'AXB' ? bindNum : caller,
      fwdDstNum: callee,
      callInTime: huaweiTime(callIn),
      fwdStartTime: huaweiTime(fwdStart),
      fwdAlertingTime: huaweiTime(alerting),
      serviceType: '003',
      hostName: host,
      ttsPlayTimes: 0,
      ttsTransDuration: 0,
      mptyId: '',
      userData: rng.chance(0.3) ? `order-${rng.digits(6)}` : '',
    };
    if (mode === 'AXE') record['extendNum'] = rng.digits(4);
    if (answered) {
      const answer = alerting + ringFor;
      let talkMs = rng.weighted([[rng.int(1, 2_900), 1], [rng.int(3_000, 59_000), 3], [rng.int(60_000, 1_900_000), 6]] as const);
      // Bindings here carry maxDuration = 30 min: longer calls are cut by the platform (release point 8010).
      const cut = talkMs > 1_800_000;
      if (cut) talkMs = 1_800_000;
      const end = answer + talkMs;
      const recorded = talkMs >= 3000 && rng.chance(0.7);
      const objectName = `${seq}_${rng.hex(16)}.wav`;
      Object.assign(record, {
        fwdAnswerTime: huaweiTime(answer),
        callEndTime: huaweiTime(end),
        fwdUnaswRsn: 0,
        failTime: '',
        ulFailReason: cut ? 8010 : 0,
        sipStatusCode: 0,
        callOutUnaswRsn: 0,
        recordFlag: recorded ? 1 : 0,
        recordStartTime: recorded ? huaweiTime(answer) : '',
        recordObjectName: recorded ? objectName : '',
        recordBucketName: recorded ? 'sp-record' : '',
        recordDomain: recorded ? (rng.chance(0.8) ? 'ostor.huawei.com' : '') : '',
        recordFileDownloadUrl: recorded ? `https://ostor.huawei.com/sp-record/${objectName}` : '',
      });
    } else {
      const code = FAILURE_CODES[this.failureCursor++ % FAILURE_CODES.length]!;
      const { q850, sip } = causesFor(code, rng);
      let end = alerting + ringFor;
      // Release points whose meaning says how far the call got: no forward leg (7516), no ringing (7501), or the
      // platform's no-answer timeout "about 90 s after the forward" (8035). The others keep the ringing leg.
      if (NO_BINDING_CODES.has(code)) record['subscriptionId'] = '';
      if (code === 7516) {
        end = fwdStart;
        Object.assign(record, { fwdStartTime: '', fwdAlertingTime: '' });
      } else if (code === 7501) {
        end = fwdStart + Math.floor((alerting - fwdStart) / 2);
        record['fwdAlertingTime'] = '';
      } else if (code === 8035) {
        end = fwdStart + 90_000;
      }
      Object.assign(record, {
        fwdAnswerTime: '',
        callEndTime: huaweiTime(end),
        fwdUnaswRsn: q850,
        failTime: huaweiTime(end),
        ulFailReason: code,
        sipStatusCode: sip,
        callOutUnaswRsn: 0,
        recordFlag: 0,
        recordStartTime: '',
        recordObjectName: '',
        recordBucketName: '',
        recordDomain: '',
        recordFileDownloadUrl: '',
      });
    }
    if (this.opts.malformedRate && rng.chance(this.opts.malformedRate)) this.corrupt(record);
    return record;
  }

  batch(size: number): FeeRecord[] {
    return Array.from({ length: size }, () => this.next());
  }

  private corrupt(record: FeeRecord): void {
    switch (this.rng.int(0, 2)) {
      case 0:
        delete record['sessionId'];
        break;
      case 1:
        record['callEndTime'] = '2026-13-45 99:99:99';
        break;
      default:
        record['direction'] = 'sideways';
    }
  }
}

/** The call events Huawei would have pushed for a fee record (callin → alerting → answer → disconnect, as far as the call got). */
export function callEventsFor(fee: FeeRecord): Record<string, unknown>[] {
  const base = {
    sessionId: fee['sessionId'],
    caller: fee['callerNum'],
    called: fee['calleeNum'],
    subscriptionId: fee['subscriptionId'],
    userData: fee['userData'],
  };
  const at = (t: unknown) => (typeof t === 'string' && t !== '' ? Math.floor(Date.parse(`${t.replace(' ', 'T')}Z`) / 1000) : undefined);
  const events: Record<string, unknown>[] = [
    { eventType: 'callin', statusInfo: { ...base, timestamp: at(fee['callInTime']) } },
  ];
  if (fee['fwdAlertingTime']) events.push({ eventType: 'alerting', statusInfo: { ...base, timestamp: at(fee['fwdAlertingTime']) } });
  if (fee['fwdAnswerTime']) events.push({ eventType: 'answer', statusInfo: { ...base, timestamp: at(fee['fwdAnswerTime']) } });
  const code = Number(fee['ulFailReason'] ?? 0);
  events.push({
    eventType: 'disconnect',
    statusInfo: { ...base, timestamp: at(fee['callEndTime']), stateCode: code, stateDesc: HUAWEI_RELEASE_POINTS[code] ?? 'unknown' },
  });
  return events;
}
