// Tencent CCC code tables as data (docs/vendors.md §1): EndStatus (45 known codes), HungUpSide, Direction, CallType.
// The CCC "user" is the customer: the caller on inbound calls, the callee on outbound ones, so a side is resolved
// against the call direction. An extension call (INTERNAL) has no customer, both ends being seats, and the vendor
// does not say which end its "user" is there, so it is UNKNOWN, as without a direction. Unknown codes are never
// errors: they map to UNKNOWN and keep their raw value.
import type { Channel, Direction, EndStatus, HangupSide } from '../cdr.ts';
import { codeTable } from './table.ts';

/** Who ended the call in CCC's own vocabulary; null when the code alone does not say. */
export type CccSide = 'user' | 'seat' | 'system' | null;

export interface CccEndStatus {
  text: string;
  status: EndStatus;
  side: CccSide;
  meaning: string;
}

export const CCC_END_STATUS: Readonly<Record<string, CccEndStatus>> = codeTable({
  '1': { text: 'ok', status: 'ANSWERED', side: null, meaning: 'Normal call' },
  '17': { text: 'seatGiveUp', status: 'NO_ANSWER', side: 'system', meaning: 'Agent did not answer in time; routed to another agent' },
  '100': { text: 'blackList', status: 'BLOCKED', side: 'system', meaning: 'Inbound blacklist' },
  '102': { text: 'ivrGiveUp', status: 'ABANDONED', side: 'user', meaning: 'User abandoned during IVR' },
  '103': { text: 'waitingGiveUp', status: 'ABANDONED', side: 'user', meaning: 'User abandoned while queued' },
  '104': { text: 'ringingGiveUp', status: 'ABANDONED', side: 'user', meaning: 'User abandoned while the agent was ringing' },
  '105': { text: 'noSeatOnline', status: 'NO_ANSWER', side: 'system', meaning: 'No agent online' },
  '106': { text: 'notWorkTime', status: 'NO_ANSWER', side: 'system', meaning: 'Outside working hours' },
  // The IVR served the call to its end: a completed self-service call, not a failure or an abandon.
  '107': { text: 'ivrEnd', status: 'ANSWERED', side: null, meaning: 'Ended in IVR with no human involved' },
  '108': { text: 'restrictedCallee', status: 'BLOCKED', side: 'system', meaning: 'Global outbound risk-number block' },
  '109': { text: 'tooManyRequest', status: 'BLOCKED', side: 'system', meaning: 'Outbound frequency control' },
  '110': { text: 'restrictedArea', status: 'BLOCKED', side: 'system', meaning: 'Outbound area restriction' },
  '111': { text: 'restrictedTime', status: 'BLOCKED', side: 'system', meaning: 'Outbound time-window restriction' },
  '202': { text: 'notAnswer', status: 'NO_ANSWER', side: 'system', meaning: 'Callee did not answer' },
  '203': { text: 'userReject', status: 'REJECTED', side: 'user', meaning: 'Callee rejected' },
  '204': { text: 'powerOff', status: 'UNREACHABLE', side: 'system', meaning: 'Callee powered off' },
  '205': { text: 'numberNotExist', status: 'UNREACHABLE', side: 'system', meaning: 'Vacant number' },
  '206': { text: 'busy', status: 'BUSY', side: 'system', meaning: 'Callee busy' },
  '207': { text: 'outOfCredit', status: 'UNREACHABLE', side: 'system', meaning: 'Callee in arrears' },
  '208': { text: 'operatorError', status: 'FAILED', side: 'system', meaning: 'Carrier line error' },
  '209': { text: 'callerCancel', status: 'CANCELLED', side: 'seat', meaning: 'Caller (agent) cancelled before ringing' },
  '210': { text: 'notInService', status: 'UNREACHABLE', side: 'system', meaning: 'Callee out of service area' },
  '211': { text: 'clientError', status: 'FAILED', side: 'seat', meaning: 'Agent client/device/network error' },
  '212': { text: 'carrierBlocked', status: 'BLOCKED', side: 'system', meaning: 'Carrier blocked the call' },
  '213': { text: 'callReminder', status: 'UNREACHABLE', side: 'system', meaning: '"Call reminder" prompt heard' },
  '215': { text: 'numberInvalid', status: 'UNREACHABLE', side: 'system', meaning: 'Invalid callee number' },
  '216': { text: 'callRestricted', status: 'BLOCKED', side: 'system', meaning: '"Call restricted" prompt' },
  '217': { text: 'calleeRestricted', status: 'BLOCKED', side: 'system', meaning: 'Callee blacklist restriction' },
  '218': { text: 'areaRestricted', status: 'BLOCKED', side: 'system', meaning: 'Callee area restriction' },
  '219': { text: 'promptCallForwarding', status: 'UNREACHABLE', side: 'system', meaning: '"Call forwarding" prompt' },
  '220': { text: 'callerCancelWhileRing', status: 'CANCELLED', side: 'seat', meaning: 'Caller cancelled while ringing' },
  '221': { text: 'callerCancelWithoutRing', status: 'UNREACHABLE', side: 'system', meaning: 'Never rang; callee number abnormal' },
  '222': { text: 'voiceMailReached', status: 'NO_ANSWER', side: 'system', meaning: 'Reached voicemail' },
  '225': { text: 'asrError', status: 'SYSTEM_ERROR', side: 'system', meaning: 'AI agent: speech recognition error' },
  '226': { text: 'llmasrError', status: 'SYSTEM_ERROR', side: 'system', meaning: 'AI agent: LLM error' },
  '227': { text: 'ttsError', status: 'SYSTEM_ERROR', side: 'system', meaning: 'AI agent: TTS error' },
  // The AI-agent codes below end connected calls: the conversation happened, only its ending differs.
  '228': { text: 'functionCallHangup', status: 'ANSWERED', side: 'seat', meaning: 'AI agent: model executed the hang-up function' },
  '229': { text: 'maxCallDurationReached', status: 'ANSWERED', side: 'system', meaning: 'AI agent: max call duration reached' },
  '230': { text: 'userInactivity', status: 'ANSWERED', side: 'system', meaning: 'AI agent: user silence timeout' },
  '231': { text: 'callTerminatedByAPI', status: 'ANSWERED', side: 'system', meaning: 'AI agent: ended through the hang-up API' },
  '232': { text: 'userHangupDuringAiCall', status: 'ANSWERED', side: 'user', meaning: 'AI agent: user hung up' },
  '233': { text: 'aiAgentEndCall', status: 'ANSWERED', side: 'seat', meaning: 'AI agent completed the call' },
  '501': { text: 'callConflict', status: 'FAILED', side: 'system', meaning: 'VoIP user call conflict' },
  '502': { text: 'clientTimeout', status: 'FAILED', side: 'user', meaning: 'VoIP client timeout' },
  '503': { text: 'voipClientError', status: 'FAILED', side: 'user', meaning: 'VoIP client error' },
});

const BY_TEXT: ReadonlyMap<string, string> = new Map(Object.entries(CCC_END_STATUS).map(([code, e]) => [e.text, code]));

export interface EndStatusLookup {
  status: EndStatus;
  code: string | null;
  /** The vendor's EndStatusString when given, else the table's string for the code. */
  text: string | null;
  side: CccSide;
}

/**
 * EndStatus (number) with EndStatusString as a fallback key: a record without a code but with a known string still
 * gets its status. An unknown code is UNKNOWN with its raw value kept.
 */
export function endStatusFor(code: unknown, vendorText: unknown): EndStatusLookup {
  const rawCode = typeof code === 'number' || (typeof code === 'string' && code.trim() !== '') ? String(code).trim() : null;
  const rawText = typeof vendorText === 'string' && vendorText.trim() !== '' ? vendorText.trim() : null;
  const key = rawCode ?? (rawText !== null ? BY_TEXT.get(rawText) : undefined);
  const entry = key === undefined ? undefined : CCC_END_STATUS[key];
  if (!entry) return { status: 'UNKNOWN', code: rawCode, text: rawText, side: null };
  return { status: entry.status, code: key ?? null, text: rawText ?? entry.text, side: entry.side };
}

export const CCC_HUNG_UP_SIDE: Readonly<Record<string, Exclude<CccSide, null>>> = codeTable({ seat: 'seat', user: 'user', system: 'system' });

export function unifiedSide(side: CccSide, direction: Direction): HangupSide | null {
  if (side === null) return null;
  if (side === 'seat') return 'AGENT';
  if (side === 'system') return 'SYSTEM';
  return direction === 'INBOUND' ? 'CALLER' : direction === 'OUTBOUND' ? 'CALLEE' : 'UNKNOWN';
}

export const CCC_DIRECTION: Readonly<Record<string, Direction>> = codeTable({ '0': 'INBOUND', '1': 'OUTBOUND' });

/** CallType beats Direction: only CallType can say "internal", and only CallType says VoIP. */
export const CCC_CALL_TYPE: Readonly<Record<string, { direction: Direction; channel: Channel; meaning: string }>> = codeTable({
  '1': { direction: 'OUTBOUND', channel: 'PSTN', meaning: 'outbound' },
  '2': { direction: 'INBOUND', channel: 'PSTN', meaning: 'inbound' },
  '3': { direction: 'INBOUND', channel: 'VOIP', meaning: 'audio (VoIP) inbound' },
  '5': { direction: 'OUTBOUND', channel: 'PSTN', meaning: 'predictive outbound' },
  // Extension-to-extension calls stay on the CCC platform and never reach the carrier network.
  '6': { direction: 'INTERNAL', channel: 'VOIP', meaning: 'internal (extension) call' },
});

/** VoIP-only end codes: a record without CallType that ended with one of these was a VoIP call. */
export const CCC_VOIP_END_CODES: ReadonlySet<string> = new Set(['501', '502', '503']);

/**
 * Inbound end codes of calls that never left the IVR for a queue (docs/vendors.md §1): blacklist 100, ivrGiveUp 102,
 * notWorkTime 106, ivrEnd 107. IVRDuration is QueuedTimestamp − StartTimestamp (CDR push doc), so on these calls the
 * vendor's 0 is no measured IVR time. The CCC simulator keeps its own copy (simulators do not import the mapping).
 */
export const CCC_IVR_END_CODES: ReadonlySet<string> = new Set(['100', '102', '106', '107']);

const INBOUND_ONLY_END_CODES = ['17', '100', '102', '103', '104', '105', '106', '107', '232', '233', '501', '502', '503'];
const OUTBOUND_ONLY_END_CODES = ['108', '109', '110', '111', '202', '203', '204', '205', '206', '207', '208', '209', '210', '212', '213', '215', '216', '217', '218', '219', '220', '221', '222'];
/**
 * End codes the code table (docs/vendors.md §1, its "in"/"out" column) scopes to one direction: an inbound-only code
 * (IVR, queue, agent routing, VoIP client, the inbound AI-agent 232/233) or an outbound-only one (dial-out blocks and
 * callee outcomes). 1, 211 (both) and the AI-agent 225-231 (unscoped) say nothing. Read only when neither CallType
 * nor Direction can be: the record's own fields always win.
 */
export const CCC_END_CODE_DIRECTION: Readonly<Record<string, Direction>> = codeTable(
  Object.fromEntries([
    ...INBOUND_ONLY_END_CODES.map((c) => [c, 'INBOUND' as const]),
    ...OUTBOUND_ONLY_END_CODES.map((c) => [c, 'OUTBOUND' as const]),
  ]),
);
