// Huawei PrivateNumber status codes as data (docs/vendors.md §4 "Code tables"). Three sources describe why a call ended:
// the release point `ulFailReason` (Huawei's own, most specific), the Q.850 cause of the forwarded leg
// `fwdUnaswRsn` (and of an "Initcall" outbound leg, `callOutUnaswRsn`), and the SIP status `sipStatusCode`.
// `endStatusFor` asks them in that order; the first one that knows its code decides. An unknown code is never an
// error: it falls through, and when nothing decides the call is UNKNOWN with every raw value kept by the mapper.
import type { EndStatus, HangupSide } from '../cdr.ts';
import { codeTable } from './table.ts';

export interface CodeMeaning {
  /** Unified end status for an unanswered call; null = "not applicable", let the next source decide. */
  status: EndStatus | null;
  text: string;
  /** Who released the call, when the code says so. */
  hangup?: HangupSide;
}

/**
 * The status of each release point follows the category Huawei gives the same code in the hang-up reason table
 * (stateCode): binding / number / tenant / network → FAILED (the call could not be set up for a reason on the
 * customer's or the network's side), control → BLOCKED, platform → SYSTEM_ERROR, callee → per code, caller → the
 * caller gave up (CANCELLED before ringing, ABANDONED during ringing or an IVR prompt). Codes that only appear in the
 * release-point table are placed by their meaning. 0 and 8010 describe a connected call: they say ANSWERED, which the
 * mapper only accepts together with fwdAnswerTime.
 */
export const RELEASE_POINTS: Readonly<Record<number, CodeMeaning>> = codeTable({
  0: { status: 'ANSWERED', text: 'Hung up normally after connect' },
  522: { status: 'SYSTEM_ERROR', text: 'Voice ports insufficient', hangup: 'SYSTEM' },
  7001: { status: 'BLOCKED', text: 'Developer call-frequency control', hangup: 'SYSTEM' },
  7002: { status: 'BLOCKED', text: 'App call-frequency control', hangup: 'SYSTEM' },
  7003: { status: 'BLOCKED', text: 'Display-number call-frequency control', hangup: 'SYSTEM' },
  7004: { status: 'BLOCKED', text: 'Callee blacklisted', hangup: 'SYSTEM' },
  7005: { status: 'BLOCKED', text: 'Caller blacklisted', hangup: 'SYSTEM' },
  7100: { status: 'FAILED', text: 'App info missing', hangup: 'SYSTEM' },
  7101: { status: 'FAILED', text: 'App has no privacy-number resources', hangup: 'SYSTEM' },
  7102: { status: 'SYSTEM_ERROR', text: 'Internal error', hangup: 'SYSTEM' },
  7103: { status: 'FAILED', text: 'Caller info missing', hangup: 'SYSTEM' },
  7104: { status: 'FAILED', text: 'AX binding missing', hangup: 'SYSTEM' },
  7105: { status: 'FAILED', text: 'Service type mismatch', hangup: 'SYSTEM' },
  7106: { status: 'FAILED', text: 'App lacks privacy-call capability', hangup: 'SYSTEM' },
  7107: { status: 'BLOCKED', text: 'Security-control prompt playback failed', hangup: 'SYSTEM' },
  7108: { status: 'FAILED', text: 'User frozen', hangup: 'SYSTEM' },
  // Huawei files 7109 under "control" (a concurrency limit of the tenant), unlike 522 (platform).
  7109: { status: 'BLOCKED', text: 'Voice ports insufficient', hangup: 'SYSTEM' },
  7500: { status: 'BLOCKED', text: 'Call prefix restricted', hangup: 'SYSTEM' },
  7501: { status: 'CANCELLED', text: 'Caller hung up before the callee rang', hangup: 'CALLER' },
  7502: { status: 'ABANDONED', text: 'Caller hung up after the callee rang', hangup: 'CALLER' },
  7503: { status: 'REJECTED', text: 'Callee hung up / rejected', hangup: 'CALLEE' },
  7504: { status: 'REJECTED', text: 'Call refused (rejection, DND, blacklist, interception app)', hangup: 'CALLEE' },
  7505: { status: 'FAILED', text: 'Caller-side network error' },
  7506: { status: 'FAILED', text: 'Callee-side network error (e.g. bad bound-number format)' },
  7507: { status: 'FAILED', text: 'No playback file', hangup: 'SYSTEM' },
  7508: { status: 'FAILED', text: 'Routing failure' },
  // The caller left during the AXE extension prompt: giving up in an IVR step.
  7516: { status: 'ABANDONED', text: 'Caller hung up before the forward (e.g. AXE extension not entered)', hangup: 'CALLER' },
  // A carrier announcement ("the number you dialled…") has no single meaning; the Q.850/SIP fallbacks are not asked
  // because the release point already decided, so FAILED is the honest summary.
  8002: { status: 'FAILED', text: 'Far end returned failure tone' },
  8003: { status: 'NO_ANSWER', text: 'Ringing timeout', hangup: 'SYSTEM' },
  8004: { status: 'ABANDONED', text: 'Hung up while ringing', hangup: 'CALLER' },
  8005: { status: 'SYSTEM_ERROR', text: 'TTS failed', hangup: 'SYSTEM' },
  8006: { status: 'FAILED', text: 'Playback file missing', hangup: 'SYSTEM' },
  8007: { status: 'SYSTEM_ERROR', text: 'Playback failed', hangup: 'SYSTEM' },
  8008: { status: 'SYSTEM_ERROR', text: 'Digit collection failed', hangup: 'SYSTEM' },
  8009: { status: 'CANCELLED', text: 'Caller hung up before connect', hangup: 'CALLER' },
  8010: { status: 'ANSWERED', text: 'Max call duration reached', hangup: 'SYSTEM' },
  8011: { status: 'SYSTEM_ERROR', text: 'Internal error', hangup: 'SYSTEM' },
  8012: { status: 'FAILED', text: 'Invalid app_key', hangup: 'SYSTEM' },
  8013: { status: 'FAILED', text: 'Invalid AX call (binding exists but no temporary callee)', hangup: 'SYSTEM' },
  8014: { status: 'FAILED', text: 'Invalid AXB call', hangup: 'SYSTEM' },
  8015: { status: 'SYSTEM_ERROR', text: 'Recording failed', hangup: 'SYSTEM' },
  8016: { status: 'FAILED', text: 'Call direction not allowed', hangup: 'SYSTEM' },
  8018: { status: 'BLOCKED', text: 'No permission / no AX binding', hangup: 'SYSTEM' },
  8019: { status: 'FAILED', text: 'No callback record (AXE/AX, A calls X)', hangup: 'SYSTEM' },
  8020: { status: 'SYSTEM_ERROR', text: 'Business exception', hangup: 'SYSTEM' },
  8022: { status: 'FAILED', text: 'Binding missing or expired (AXE, B calls X)', hangup: 'SYSTEM' },
  8023: { status: 'BLOCKED', text: 'Fixed-line caller not allowed', hangup: 'SYSTEM' },
  8024: { status: 'BLOCKED', text: 'Real-caller display not allowed', hangup: 'SYSTEM' },
  8025: { status: 'FAILED', text: 'X number missing (AXE)', hangup: 'SYSTEM' },
  8033: { status: 'ABANDONED', text: 'Empty extension received', hangup: 'CALLER' },
  8035: { status: 'NO_ANSWER', text: 'Callee did not answer (platform timeout, about 90 s after the forward)', hangup: 'SYSTEM' },
  8040: { status: 'SYSTEM_ERROR', text: 'Internal error', hangup: 'SYSTEM' },
  8041: { status: 'SYSTEM_ERROR', text: 'Recording failed', hangup: 'SYSTEM' },
  8042: { status: 'BLOCKED', text: 'International inbound restricted', hangup: 'SYSTEM' },
  8043: { status: 'BLOCKED', text: 'International outbound restricted', hangup: 'SYSTEM' },
  8044: { status: 'BLOCKED', text: 'Abnormal call-time control', hangup: 'SYSTEM' },
  8046: { status: 'BLOCKED', text: 'Abnormal connect-rate control', hangup: 'SYSTEM' },
  8047: { status: 'BLOCKED', text: 'Caller frequency control', hangup: 'SYSTEM' },
  8048: { status: 'BLOCKED', text: 'Callee frequency control', hangup: 'SYSTEM' },
  8049: { status: 'BLOCKED', text: 'Service-number frequency control', hangup: 'SYSTEM' },
  8050: { status: 'BLOCKED', text: 'Time-window restriction', hangup: 'SYSTEM' },
  8051: { status: 'BLOCKED', text: 'Sub-enterprise paused', hangup: 'SYSTEM' },
  8055: { status: 'BLOCKED', text: 'X number has no call/SMS right', hangup: 'SYSTEM' },
  8056: { status: 'BLOCKED', text: 'Dial-test number control', hangup: 'SYSTEM' },
  8057: { status: 'BLOCKED', text: 'Direction control', hangup: 'SYSTEM' },
  8058: { status: 'BLOCKED', text: 'Practitioner not real-name verified', hangup: 'SYSTEM' },
  8059: { status: 'BLOCKED', text: 'Carrier interception', hangup: 'SYSTEM' },
  8100: { status: 'UNREACHABLE', text: 'Callee number does not exist' },
  8101: { status: 'NO_ANSWER', text: 'Callee no answer (carrier timeout)' },
  8102: { status: 'BUSY', text: 'Callee busy', hangup: 'CALLEE' },
  8103: { status: 'UNREACHABLE', text: 'Callee temporarily unreachable / signal abnormal' },
  8104: { status: 'UNREACHABLE', text: 'Callee powered off / airplane mode / no network' },
  8105: { status: 'UNREACHABLE', text: 'Callee suspended' },
  // Hang-up reasons (stateCode) that the release-point table lacks; accepted here in case a fee record carries them.
  8030: { status: 'FAILED', text: 'AXYB binding missing', hangup: 'SYSTEM' },
  8031: { status: 'FAILED', text: 'AXYB Y allocation failed', hangup: 'SYSTEM' },
  8032: { status: 'FAILED', text: 'AXYB: A dialled their own bound number', hangup: 'SYSTEM' },
  8139: { status: 'SYSTEM_ERROR', text: 'Other internal error', hangup: 'SYSTEM' },
});

/**
 * Q.850 causes as Huawei lists them (ITU-T names). Placed by Q.850 class where the cause is not a named outcome:
 * resource unavailable, not implemented, invalid message, protocol and interworking errors → FAILED; barring and
 * closed-user-group restrictions → BLOCKED. 16/31 (normal clearing) on a leg that never answered means the call was
 * released without a failure before answer, i.e. by the caller → CANCELLED.
 */
export const Q850_CAUSES: Readonly<Record<number, CodeMeaning>> = codeTable({
  0: { status: null, text: 'Not applicable' },
  1: { status: 'UNREACHABLE', text: 'Unallocated (unassigned) number' },
  2: { status: 'FAILED', text: 'No route to specified transit network' },
  3: { status: 'FAILED', text: 'No route to destination' },
  4: { status: 'FAILED', text: 'Send special information tone' },
  5: { status: 'FAILED', text: 'Misdialled trunk prefix' },
  6: { status: 'FAILED', text: 'Channel unacceptable' },
  7: { status: 'FAILED', text: 'Call awarded and being delivered in an established channel' },
  8: { status: 'FAILED', text: 'Preemption' },
  9: { status: 'FAILED', text: 'Preemption, circuit reserved for reuse' },
  16: { status: 'CANCELLED', text: 'Normal call clearing', hangup: 'CALLER' },
  17: { status: 'BUSY', text: 'User busy', hangup: 'CALLEE' },
  18: { status: 'NO_ANSWER', text: 'No user responding' },
  19: { status: 'NO_ANSWER', text: 'No answer from user (user alerted)' },
  20: { status: 'UNREACHABLE', text: 'Subscriber absent' },
  21: { status: 'REJECTED', text: 'Call rejected', hangup: 'CALLEE' },
  22: { status: 'UNREACHABLE', text: 'Number changed' },
  23: { status: 'FAILED', text: 'Redirection to new destination' },
  25: { status: 'FAILED', text: 'Exchange routing error' },
  26: { status: 'CANCELLED', text: 'Non-selected user clearing' },
  27: { status: 'UNREACHABLE', text: 'Destination out of order' },
  28: { status: 'UNREACHABLE', text: 'Invalid number format (address incomplete)' },
  29: { status: 'FAILED', text: 'Facility rejected' },
  30: { status: 'FAILED', text: 'Response to STATUS ENQUIRY' },
  31: { status: 'CANCELLED', text: 'Normal, unspecified', hangup: 'CALLER' },
  34: { status: 'FAILED', text: 'No circuit/channel available' },
  38: { status: 'FAILED', text: 'Network out of order' },
  39: { status: 'FAILED', text: 'Permanent frame mode connection out of service' },
  40: { status: 'FAILED', text: 'Permanent frame mode connection operational' },
  41: { status: 'FAILED', text: 'Temporary failure' },
  42: { status: 'FAILED', text: 'Switching equipment congestion' },
  43: { status: 'FAILED', text: 'Access information discarded' },
  44: { status: 'FAILED', text: 'Requested circuit/channel not available' },
  46: { status: 'BLOCKED', text: 'Precedence call blocked' },
  47: { status: 'FAILED', text: 'Resource unavailable, unspecified' },
  49: { status: 'FAILED', text: 'Quality of service not available' },
  50: { status: 'FAILED', text: 'Requested facility not subscribed' },
  53: { status: 'BLOCKED', text: 'Outgoing calls barred within CUG' },
  55: { status: 'BLOCKED', text: 'Incoming calls barred within CUG' },
  57: { status: 'BLOCKED', text: 'Bearer capability not authorized' },
  58: { status: 'FAILED', text: 'Bearer capability not presently available' },
  62: { status: 'FAILED', text: 'Inconsistency in designated outgoing access information and subscriber class' },
  63: { status: 'FAILED', text: 'Service or option not available, unspecified' },
  65: { status: 'FAILED', text: 'Bearer capability not implemented' },
  66: { status: 'FAILED', text: 'Channel type not implemented' },
  69: { status: 'FAILED', text: 'Requested facility not implemented' },
  70: { status: 'FAILED', text: 'Only restricted digital information bearer capability is available' },
  79: { status: 'FAILED', text: 'Service or option not implemented, unspecified' },
  81: { status: 'FAILED', text: 'Invalid call reference value' },
  82: { status: 'FAILED', text: 'Identified channel does not exist' },
  83: { status: 'FAILED', text: 'A suspended call exists, but this call identity does not' },
  84: { status: 'FAILED', text: 'Call identity in use' },
  85: { status: 'FAILED', text: 'No call suspended' },
  86: { status: 'FAILED', text: 'Call having the requested call identity has been cleared' },
  87: { status: 'BLOCKED', text: 'User not member of CUG' },
  88: { status: 'FAILED', text: 'Incompatible destination' },
  90: { status: 'FAILED', text: 'Non-existent CUG' },
  91: { status: 'FAILED', text: 'Invalid transit network selection' },
  95: { status: 'FAILED', text: 'Invalid message, unspecified' },
  96: { status: 'FAILED', text: 'Mandatory information element is missing' },
  97: { status: 'FAILED', text: 'Message type non-existent or not implemented' },
  98: { status: 'FAILED', text: 'Message not compatible with call state or message type non-existent' },
  99: { status: 'FAILED', text: 'Information element / parameter non-existent or not implemented' },
  100: { status: 'FAILED', text: 'Invalid information element contents' },
  101: { status: 'FAILED', text: 'Message not compatible with call state' },
  102: { status: 'FAILED', text: 'Recovery on timer expiry' },
  103: { status: 'FAILED', text: 'Parameter non-existent or not implemented, passed on' },
  110: { status: 'FAILED', text: 'Message with unrecognized parameter, discarded' },
  111: { status: 'FAILED', text: 'Protocol error, unspecified' },
  127: { status: 'FAILED', text: 'Interworking, unspecified' },
});

/** SIP final responses with a specific meaning (RFC 3261 names). 0 and 2xx carry no failure: let others decide. */
export const SIP_STATUS_CODES: Readonly<Record<number, CodeMeaning>> = codeTable({
  0: { status: null, text: 'Not applicable' },
  403: { status: 'BLOCKED', text: 'Forbidden' },
  404: { status: 'UNREACHABLE', text: 'Not Found' },
  408: { status: 'NO_ANSWER', text: 'Request Timeout' },
  410: { status: 'UNREACHABLE', text: 'Gone' },
  480: { status: 'NO_ANSWER', text: 'Temporarily Unavailable' },
  484: { status: 'UNREACHABLE', text: 'Address Incomplete' },
  486: { status: 'BUSY', text: 'Busy Here', hangup: 'CALLEE' },
  487: { status: 'CANCELLED', text: 'Request Terminated', hangup: 'CALLER' },
  600: { status: 'BUSY', text: 'Busy Everywhere', hangup: 'CALLEE' },
  603: { status: 'REJECTED', text: 'Decline', hangup: 'CALLEE' },
  604: { status: 'UNREACHABLE', text: 'Does Not Exist Anywhere' },
});

/** Any other SIP failure by class (first digit): a request, server or global failure without a named outcome. */
export const SIP_STATUS_CLASSES: Readonly<Record<number, CodeMeaning>> = codeTable({
  4: { status: 'FAILED', text: 'SIP client error' },
  5: { status: 'FAILED', text: 'SIP server error' },
  6: { status: 'FAILED', text: 'SIP global failure' },
});

export type HuaweiStatusSource = 'ulFailReason' | 'fwdUnaswRsn' | 'callOutUnaswRsn' | 'sipStatusCode';

export interface HuaweiStatusCodes {
  ulFailReason: number | null;
  fwdUnaswRsn: number | null;
  callOutUnaswRsn: number | null;
  sipStatusCode: number | null;
}

export interface HuaweiEndStatus {
  status: EndStatus;
  /** Which field decided; null when none did (UNKNOWN) or when the answer time did. */
  source: HuaweiStatusSource | 'fwdAnswerTime' | null;
  /** The code of the deciding field (the release point when the answer time decided). */
  code: number | null;
  /** Meaning of that code; prefixed with the field's name when a fallback field decided. */
  text: string | null;
  hangup: HangupSide | null;
}

export function sipMeaning(code: number): CodeMeaning | undefined {
  return SIP_STATUS_CODES[code] ?? SIP_STATUS_CLASSES[Math.floor(code / 100)];
}

/**
 * End status of one fee record. An answered forward (fwdAnswerTime present) is ANSWERED whatever the release point
 * says (8010 max duration, 8015 recording failed and 7503 callee hung up all happen after answer, and billing starts
 * at answer): a billed call is always an answered one. The release point still supplies text and hang-up side.
 * An unanswered call takes the first source that knows its code and gives a non-ANSWERED status.
 */
export function endStatusFor(codes: HuaweiStatusCodes, answered: boolean): HuaweiEndStatus {
  const release = codes.ulFailReason === null ? undefined : RELEASE_POINTS[codes.ulFailReason];
  if (answered) {
    return {
      status: 'ANSWERED',
      source: 'fwdAnswerTime',
      code: codes.ulFailReason,
      text: release?.text ?? null,
      hangup: release?.hangup ?? null,
    };
  }
  const candidates: [HuaweiStatusSource, number | null, CodeMeaning | undefined][] = [
    ['ulFailReason', codes.ulFailReason, release],
    ['fwdUnaswRsn', codes.fwdUnaswRsn, codes.fwdUnaswRsn === null ? undefined : Q850_CAUSES[codes.fwdUnaswRsn]],
    ['callOutUnaswRsn', codes.callOutUnaswRsn, codes.callOutUnaswRsn === null ? undefined : Q850_CAUSES[codes.callOutUnaswRsn]],
    ['sipStatusCode', codes.sipStatusCode, codes.sipStatusCode === null ? undefined : sipMeaning(codes.sipStatusCode)],
  ];
  for (const [source, code, meaning] of candidates) {
    // ANSWERED without an answer time is a contradiction in the record; the next source may know better.
    if (meaning?.status && meaning.status !== 'ANSWERED') {
      // vendor_status_code is always ulFailReason, so a fallback's text names its own field and code.
      const label = source === 'ulFailReason' ? meaning.text : `${source} ${code}: ${meaning.text}`;
      return { status: meaning.status, source, code, text: label, hangup: meaning.hangup ?? null };
    }
  }
  return { status: 'UNKNOWN', source: null, code: null, text: release?.text ?? null, hangup: null };
}
