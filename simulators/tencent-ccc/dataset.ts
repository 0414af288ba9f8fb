// A reproducible set of realistic CCC TelCdrInfo records (every SDK field, protected numbers, all 45 documented
// EndStatus codes, transfer legs, IVR keys), each with the moment it becomes visible through the API, so
// records that show up late inside an already-polled window are part of the model, not a special case.
import { SimulatorDataset, type SimulatorDatasetOptions } from '../kit.ts';

type Scope = 'in' | 'out' | 'both' | 'voip' | 'ai' | 'ai-in';
/** docs/vendors.md §1 code table: [code, string, scope]. */
export const END_STATUS: readonly (readonly [number, string, Scope])[] = [
  [1, 'ok', 'both'], [211, 'clientError', 'both'], [100, 'blackList', 'in'], [102, 'ivrGiveUp', 'in'],
  [103, 'waitingGiveUp', 'in'], [104, 'ringingGiveUp', 'in'], [105, 'noSeatOnline', 'in'], [106, 'notWorkTime', 'in'],
  [107, 'ivrEnd', 'in'], [108, 'restrictedCallee', 'out'], [109, 'tooManyRequest', 'out'], [110, 'restrictedArea', 'out'],
  [111, 'restrictedTime', 'out'], [202, 'notAnswer', 'out'], [203, 'userReject', 'out'], [204, 'powerOff', 'out'],
  [205, 'numberNotExist', 'out'], [206, 'busy', 'out'], [207, 'outOfCredit', 'out'], [208, 'operatorError', 'out'],
  [209, 'callerCancel', 'out'], [210, 'notInService', 'out'], [212, 'carrierBlocked', 'out'], [213, 'callReminder', 'out'],
  [215, 'numberInvalid', 'out'], [216, 'callRestricted', 'out'], [217, 'calleeRestricted', 'out'], [218, 'areaRestricted', 'out'],
  [219, 'promptCallForwarding', 'out'], [220, 'callerCancelWhileRing', 'out'], [221, 'callerCancelWithoutRing', 'out'],
  [222, 'voiceMailReached', 'out'], [501, 'callConflict', 'voip'], [502, 'clientTimeout', 'voip'], [503, 'voipClientError', 'voip'],
  [17, 'seatGiveUp', 'in'], [225, 'asrError', 'ai'], [226, 'llmasrError', 'ai'], [227, 'ttsError', 'ai'],
  [228, 'functionCallHangup', 'ai'], [229, 'maxCallDurationReached', 'ai'], [230, 'userInactivity', 'ai'],
  [231, 'callTerminatedByAPI', 'ai'], [232, 'userHangupDuringAiCall', 'ai-in'], [233, 'aiAgentEndCall', 'ai-in'],
];

/**
 * Who hung up, where the code table's meaning names the party (docs/vendors.md §1): the user abandoned (102-104) or,
 * on an outbound call, rejected (203); the system blocked (100 "system side", 108-111 "system"); the agent as caller
 * cancelled (209, 220). Any other code says nothing of the side.
 */
const NAMED_SIDE: ReadonlyMap<number, 'user' | 'seat' | 'system'> = new Map([
  [102, 'user'], [103, 'user'], [104, 'user'], [203, 'user'],
  [100, 'system'], [108, 'system'], [109, 'system'], [110, 'system'], [111, 'system'],
  [209, 'seat'], [220, 'seat'],
] as const);

/**
 * Inbound end codes of calls that never left the IVR for a queue (docs/vendors.md §1 code table): blocked by the
 * blacklist (100), abandoned during the IVR (102), outside working hours (106), ended in the IVR (107). The mapping's
 * CCC_IVR_END_CODES is the same set (simulator.test.ts holds them equal); simulators do not import the mapping.
 */
export const NEVER_QUEUED: ReadonlySet<number> = new Set([100, 102, 106, 107]);

/**
 * End codes of calls where nothing ever rang (RingTimestamp 0): an inbound call that never queued (NEVER_QUEUED) or
 * queued with no agent online (105) rings no agent; an outbound call blocked before dialling (108-111), to a vacant
 * number (205), cancelled by the agent before ringing (209) or that never rang (221) rings no user.
 */
const NEVER_RING: ReadonlySet<number> = new Set([...NEVER_QUEUED, 105, 108, 109, 110, 111, 205, 209, 221]);

/** A record plus simulator-only bookkeeping (never sent). */
export interface StoredCdr {
  sdkAppId: number;
  sessionId: string;
  startTimestamp: number;
  /** Unix seconds at which the API starts returning the record. */
  visibleAt: number;
  record: Record<string, unknown>;
}

/** `lateFraction`: records visible late (5-25 min after the call ended); default 0.03. */
export type CccDatasetOptions = SimulatorDatasetOptions;

const LOCATIONS = ['广东深圳固话', '广东深圳移动', '北京联通', '上海电信', '辽宁沈阳固话', '浙江杭州移动', '四川成都电信', ''];
const SKILL_GROUPS: readonly (readonly [number, string])[] = [[101, '售前咨询'], [102, '售后服务'], [103, 'VIP'], [104, 'Billing EN']];
const AGENTS = Array.from({ length: 12 }, (_, i) => ({
  Name: `Agent ${i + 1}`,
  Mail: `agent${i + 1}@example.com`,
  StaffNumber: String(1000 + i),
  Phone: `0086138${String(10000000 + i * 7919).slice(0, 8)}`,
  Nick: `a${i + 1}`,
  UserId: `agent${i + 1}@example.com`,
  ExtensionNumber: String(2001 + i),
}));

export class CccDataset extends SimulatorDataset<StoredCdr> {
  /**
   * The vendor updates a record it already serves (e.g. AsrStatus Processing → Complete once transcription is done,
   * a Remark added by an agent): same SessionId, new field values from the next request on.
   */
  amend(sessionId: string, changes: Record<string, unknown>): StoredCdr {
    const stored = this.records.find((r) => r.sessionId === sessionId);
    if (!stored) throw new Error(`no CCC record ${sessionId}`);
    Object.assign(stored.record, changes);
    return stored;
  }

  /** Records of one tenant with StartTimestamp in [start, end] (both inclusive) visible at `nowSec`, in page order. */
  query(sdkAppId: number, start: number, end: number, nowSec: number): StoredCdr[] {
    return this.visibleIn(sdkAppId, start, end, nowSec);
  }

  protected keyOf(r: StoredCdr): string {
    return r.sessionId;
  }

  protected startOf(r: StoredCdr): number {
    return r.startTimestamp;
  }

  protected endOf(r: StoredCdr): number {
    return Number(r.record['EndedTimestamp']);
  }

  protected shift(r: StoredCdr, deltaSec: number): StoredCdr {
    return shiftCall(r, deltaSec);
  }

  protected makeRecord(sdkAppId: number, start: number, sessionId?: string): StoredCdr {
    const rng = this.rng;
    const id = sessionId ?? rng.uuid();
    const isAi = rng.chance(0.06);
    const direction = isAi ? rng.pick([0, 1]) : rng.weighted([[0, 55], [1, 45]] as const);
    const callType = direction === 1 ? rng.weighted([[1, 85], [5, 15]] as const) : rng.weighted([[2, 80], [3, 15], [6, 5]] as const);
    // The table scopes 232/233 to inbound AI-agent calls: an outbound AI call never ends with them.
    const aiScopes: Scope[] = direction === 0 ? ['ai', 'ai-in'] : ['ai'];
    const scopes: Scope[] = isAi ? aiScopes : direction === 0 ? (callType === 3 ? ['both', 'in', 'voip'] : ['both', 'in']) : ['both', 'out'];
    const candidates = END_STATUS.filter(([, , s]) => scopes.includes(s));
    // Most calls are answered; the rest spread over every code that fits the direction.
    const [endStatus, endStatusString] = rng.chance(0.6) && !isAi ? [1, 'ok'] : (([c, s]) => [c, s] as const)(rng.pick(candidates));
    const answered = endStatus === 1 || (isAi && ![225, 226, 227].includes(endStatus)) || endStatus === 211;
    const ivr = direction === 0 ? rng.int(3, 40) : 0;
    const ivrLeft = start + ivr;
    // QueuedTimestamp is when the user entered the queue and IVRDuration is QueuedTimestamp − StartTimestamp (CDR push
    // doc); an inbound call that ended in the IVR never queued, so it has neither (0, as every unset timestamp is).
    const queued = direction === 0 && !NEVER_QUEUED.has(endStatus) ? ivrLeft : 0;
    const wait = rng.int(2, 30);
    const ringing = NEVER_RING.has(endStatus) ? 0 : ivrLeft + rng.int(1, 8);
    const accept = answered ? (ringing || start) + rng.int(1, 12) : 0;
    const talk = answered ? rng.weighted([[rng.int(5, 59), 30], [rng.int(60, 600), 60], [rng.int(601, 3600), 10]] as const) : 0;
    const ended = answered ? accept + talk : (ringing || ivrLeft) + wait;
    const group = rng.pick(SKILL_GROUPS);
    const agent = rng.pick(AGENTS);
    const hasSeat = answered || ringing > 0;
    const record: Record<string, unknown> = {
      Caller: '',
      Callee: '',
      ProtectedCaller: `pc_${rng.hex(16)}`,
      ProtectedCallee: `pe_${rng.hex(16)}`,
      Time: start,
      StartTimestamp: start,
      QueuedTimestamp: queued,
      RingTimestamp: ringing,
      AcceptTimestamp: accept,
      EndedTimestamp: ended,
      Direction: direction,
      CallType: callType,
      Duration: answered ? ended - accept : 0,
      IVRDuration: queued === 0 ? 0 : queued - start,
      RecordURL: answered ? `https://ccc-record-1300000000.cos.ap-guangzhou.myqcloud.com/${sdkAppId}/${id}.mp3` : '',
      RecordId: answered ? `rec_${rng.hex(12)}` : '',
      CustomRecordURL: answered && rng.chance(0.3) ? `https://customer-bucket.cos.ap-shanghai.myqcloud.com/ccc/${id}.mp3` : '',
      VoicemailRecordURL: endStatus === 222 ? [`https://ccc-vm.example.com/${id}/1.mp3`] : [],
      VoicemailAsrURL: endStatus === 222 ? [`https://ccc-vm.example.com/${id}/1.txt`] : [],
      AsrUrl: answered && rng.chance(0.5) ? `https://ccc-asr.example.com/${id}.json` : '',
      AsrStatus: answered ? rng.pick(['Complete', 'Processing', 'NotExists']) : 'NotExists',
      SeatUser: hasSeat
        ? { ...agent, SkillGroupNameList: [group[1]], Role: rng.pick([1, 2, 3, 3, 3, 7]) }
        : { Name: '', Mail: '', StaffNumber: '' },
      SkillGroup: group[1],
      SkillGroupId: group[0],
      // Outbound calls queue in no group, yet carry one: the agent's only skill group (the push doc's first rule).
      QueuedSkillGroupId: group[0],
      QueuedSkillGroupName: group[1],
      CallerLocation: rng.pick(LOCATIONS),
      EndStatus: endStatus,
      EndStatusString: endStatusString,
      // Drawn for every call (the seeded sequence stays as it was), then overridden where the end code names the party.
      HungUpSide: ((drawn) => NAMED_SIDE.get(endStatus) ?? drawn)(rng.weighted([['user', 50], ['seat', 40], ['system', 10]] as const)),
      IVRKeyPressed: [] as string[],
      IVRKeyPressedEx: [] as Record<string, unknown>[],
      PostIVRKeyPressed: [] as Record<string, unknown>[],
      PostIVRKeyPressedEx: [] as Record<string, unknown>[],
      ServeParticipants: [] as Record<string, unknown>[],
      SessionId: id,
      UUI: rng.chance(0.3) ? `order=${rng.digits(8)}` : '',
      Uui: null,
      Remark: rng.chance(0.1) ? '客户要求回电' : '',
    };
    if (record['UUI'] !== '') record['Uui'] = record['UUI'];
    if (direction === 0) {
      const keys = rng.int(0, 3);
      for (let k = 0; k < keys; k++) {
        const key = String(rng.int(0, 9));
        (record['IVRKeyPressed'] as string[]).push(key);
        (record['IVRKeyPressedEx'] as Record<string, unknown>[]).push({
          Key: key,
          Label: `menu-${key}`,
          // IVR key timestamps are the one millisecond field in TelCdrInfo.
          Timestamp: (start + k + 1) * 1000 + rng.int(0, 999),
          NodeLabel: `node-${k}`,
          OriginalContent: key,
          TTSPrompt: '请按键选择服务',
        });
      }
    }
    if (answered && rng.chance(0.4)) {
      const key = rng.pick(['1', '2', '3', 'noInput']);
      const el = { Key: key, Label: key === 'noInput' ? '' : `satisfaction-${key}`, Timestamp: (ended + 5) * 1000, NodeLabel: 'survey', OriginalContent: key, TTSPrompt: '请评价' };
      (record['PostIVRKeyPressedEx'] as Record<string, unknown>[]).push(el);
      (record['PostIVRKeyPressed'] as Record<string, unknown>[]).push({ Key: el.Key, Label: el.Label });
    }
    if (hasSeat) {
      // One leg per agent; a transferred call has 2-3 legs and SeatUser is the last one.
      const legs = answered && rng.chance(0.15) ? rng.int(2, 3) : 1;
      let legStart = ringing || start;
      for (let s = 0; s < legs; s++) {
        const legAgent = s === legs - 1 ? agent : rng.pick(AGENTS);
        // Every leg lies inside the session (EndedTimestamp ends the whole session): a leg is answered no later than the
        // call ends, and a leg that is transferred on ends at a share of the time left, below 1/(legs left), so the
        // next legs still fit. The draws are the same as before, so every other record of a seed stays as it was.
        const legAccept = answered ? Math.min(legStart + rng.int(1, 6), ended) : 0;
        const legEnd = s === legs - 1 ? ended : legAccept + Math.floor(((ended - legAccept) * rng.int(10, 120)) / (121 * (legs - s)));
        const type = direction === 1 ? 'outboundSeat' : rng.pick(['staffSeat', 'staffPhoneSeat']);
        const leg: Record<string, unknown> = {
          Sequence: s,
          Type: type,
          Mail: legAgent.Mail,
          Phone: legAgent.Phone,
          StartTimestamp: legStart,
          RingTimestamp: legStart,
          AcceptTimestamp: legAccept,
          EndedTimestamp: legEnd,
          RecordId: answered ? `seatrec_${rng.hex(10)}` : '',
          RecordURL: answered ? `https://ccc-record-1300000000.cos.ap-guangzhou.myqcloud.com/${sdkAppId}/${id}-${s}.mp3` : '',
          CustomRecordURL: '',
          SkillGroupId: group[0],
          SkillGroupName: group[1],
          EndStatusString: s < legs - 1 ? 'ok' : endStatusString,
          TransferFrom: '',
          TransferFromType: '',
          TransferTo: '',
          TransferToType: '',
        };
        const legsArr = record['ServeParticipants'] as Record<string, unknown>[];
        const prev = legsArr[legsArr.length - 1];
        if (prev) {
          prev['TransferTo'] = legAgent.Mail;
          prev['TransferToType'] = type;
          leg['TransferFrom'] = prev['Mail'];
          leg['TransferFromType'] = prev['Type'];
        }
        legsArr.push(leg);
        legStart = legEnd;
      }
    }
    if (isAi) {
      record['AIAgentId'] = rng.int(1000, 1010);
      record['AIAgentName'] = `ai-agent-${record['AIAgentId']}`;
    }
    if (answered && rng.chance(0.05)) {
      record['SysHangupReason'] = rng.int(1, 5);
      record['SysHangupReasonString'] = `sysReason${record['SysHangupReason']}`;
    }
    const late = rng.chance(this.lateFraction);
    const visibleAt = ended + (late ? rng.int(300, 1500) : rng.int(2, 60));
    return { sdkAppId, sessionId: id, startTimestamp: start, visibleAt, record };
  }
}

/** The same call `deltaSec` earlier or later: every non-zero timestamp moves (IVR key times are in ms). */
export function shiftCall(stored: StoredCdr, deltaSec: number): StoredCdr {
  const r = stored.record;
  for (const f of ['Time', 'StartTimestamp', 'QueuedTimestamp', 'RingTimestamp', 'AcceptTimestamp', 'EndedTimestamp']) {
    if (typeof r[f] === 'number' && r[f] !== 0) r[f] = (r[f] as number) + deltaSec;
  }
  for (const list of ['IVRKeyPressedEx', 'PostIVRKeyPressedEx']) {
    for (const el of r[list] as Record<string, unknown>[]) if (typeof el['Timestamp'] === 'number') el['Timestamp'] = (el['Timestamp'] as number) + deltaSec * 1000;
  }
  for (const leg of r['ServeParticipants'] as Record<string, unknown>[]) {
    for (const f of ['StartTimestamp', 'RingTimestamp', 'AcceptTimestamp', 'EndedTimestamp']) {
      if (typeof leg[f] === 'number' && leg[f] !== 0) leg[f] = (leg[f] as number) + deltaSec;
    }
  }
  return { ...stored, startTimestamp: stored.startTimestamp + deltaSec, visibleAt: stored.visibleAt + deltaSec };
}
