// Realistic Huawei PrivateNumber fee records (FeeInfo, every documented field) and the call events of the same calls,
// reproducible from a seed. Unanswered calls walk through every documented release point (ulFailReason) in turn,
// with a matching Q.850 cause and SIP status, so a run of a few hundred records covers the whole code table.
// With `malformedRate` > 0 some records are wrong inside (no sessionId, an impossible time, a text direction):
// valid pushes that the receiver stores and normalize must dead-letter.
import { Rng, seededRandom } from '../kit.ts';
import { RELEASE_POINTS } from '../../transforms/normalize/codes/huawei-privatenumber.ts';
import type { HUAWEI_MODES } from '../../connectors/huawei-privatenumber/config.ts';

export type FeeRecord = Record<string, string | number>;
export type HuaweiMode = (typeof HUAWEI_MODES)[number];

export interface HuaweiGeneratorOptions {
  seed: number;
  appKey: string;
  mode?: HuaweiMode;
  /** Call start of the first record (epoch ms); later calls follow a few seconds apart. */
  startMs?: number;
  /** Share of records that are wrong inside (for the dead-letter path). */
  malformedRate?: number;
}

const FAILURE_CODES = Object.keys(RELEASE_POINTS).map(Number).filter((c) => c !== 0 && c !== 8010);

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
      direction: rng.weighted([[1, 6], [0, 3], [2, 1]] as const),
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
      const end = alerting + ringFor;
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

/** The call events Huawei would have pushed for a fee record (callin → alerting → answer → disconnect). */
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
    { eventType: 'alerting', statusInfo: { ...base, timestamp: at(fee['fwdAlertingTime']) } },
  ];
  if (fee['fwdAnswerTime']) events.push({ eventType: 'answer', statusInfo: { ...base, timestamp: at(fee['fwdAnswerTime']) } });
  const code = Number(fee['ulFailReason'] ?? 0);
  events.push({
    eventType: 'disconnect',
    statusInfo: { ...base, timestamp: at(fee['callEndTime']), stateCode: code, stateDesc: RELEASE_POINTS[code]?.text ?? 'unknown' },
  });
  return events;
}
