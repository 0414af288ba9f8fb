// Tencent RTC TUICallKit callResult values as data (docs/vendors.md §2): the 6 documented values plus `offline`, seen in
// the doc's own sample. Whether the call was answered comes from here, not from acceptTs: the sample's unanswered
// `offline` records carry acceptTs == startCallTs.
import type { EndStatus, HangupSide } from '../cdr.ts';
import { codeTable } from './table.ts';

/** yes / no, or "if-accepted": a network interruption may come before or after the callee picked up. */
export type TrtcAnswered = 'yes' | 'no' | 'if-accepted';

export interface TrtcCallResult {
  status: EndStatus;
  answered: TrtcAnswered;
  side: HangupSide | null;
  meaning: string;
}

export const TRTC_CALL_RESULT: Readonly<Record<string, TrtcCallResult>> = codeTable({
  cancel: { status: 'CANCELLED', answered: 'no', side: 'CALLER', meaning: 'Caller cancelled before connection' },
  reject: { status: 'REJECTED', answered: 'no', side: 'CALLEE', meaning: 'Callee rejected' },
  not_answer: { status: 'NO_ANSWER', answered: 'no', side: 'SYSTEM', meaning: 'Callee did not answer in time' },
  normal_end: { status: 'ANSWERED', answered: 'yes', side: null, meaning: 'Connected and ended normally' },
  call_busy: { status: 'BUSY', answered: 'no', side: 'SYSTEM', meaning: 'Line busy' },
  interrupt: { status: 'FAILED', answered: 'if-accepted', side: 'SYSTEM', meaning: 'Interrupted by network or other reasons' },
  offline: { status: 'UNREACHABLE', answered: 'no', side: 'SYSTEM', meaning: 'Callee offline (undocumented; seen in the doc sample)' },
});

export interface TrtcStatusLookup {
  status: EndStatus;
  code: string | null;
  text: string | null;
  answered: TrtcAnswered;
  side: HangupSide | null;
}

/**
 * Unknown values (e.g. v4 PascalCase spellings) map to UNKNOWN and keep their raw value; whether they were answered
 * then rests on acceptTs being after the start, so a connected call under a new spelling is still billed.
 */
export function endStatusFor(callResult: unknown): TrtcStatusLookup {
  const code = typeof callResult === 'string' && callResult.trim() !== '' ? callResult.trim() : null;
  // Own keys only: a hostile value such as "constructor" must not find an inherited property.
  const entry = code === null || !Object.hasOwn(TRTC_CALL_RESULT, code) ? undefined : TRTC_CALL_RESULT[code];
  if (!entry) return { status: 'UNKNOWN', code, text: null, answered: 'if-accepted', side: null };
  return { status: entry.status, code, text: entry.meaning, answered: entry.answered, side: entry.side };
}

export const TRTC_MEDIA_CHANNEL: Readonly<Record<string, 'VIDEO' | 'VOIP'>> = codeTable({ video: 'VIDEO', audio: 'VOIP' });

// The v4 call-record API (call_record_http_srv, TUICallKit calls()) spells the same values in PascalCase. Only
// `NormalEnd` (CallResult) and `SingleCall` (CallType) appear in the published v4 doc; the rest are the v1 values'
// PascalCase counterparts, following the pattern those two show (normal_end → NormalEnd). Each maps to its v1 spelling,
// so both APIs give the same vendor_status_code / call_type and share one code table. Any other value stays verbatim:
// CallResult → UNKNOWN with the raw value in vendor_status_code (see endStatusFor). Maps, not objects: a hostile
// value like "constructor" must never find an inherited property.
export const TRTC_V4_CALL_RESULT: ReadonlyMap<string, string> = new Map([
  ['NormalEnd', 'normal_end'],
  ['Cancel', 'cancel'],
  ['Reject', 'reject'],
  ['NotAnswer', 'not_answer'],
  ['CallBusy', 'call_busy'],
  ['Interrupt', 'interrupt'],
  ['Offline', 'offline'],
]);

/** v4 CallType: SingleCall (documented) and MultiCall (the v4 response sample) → the v1 single / group. */
export const TRTC_V4_CALL_TYPE: ReadonlyMap<string, string> = new Map([
  ['SingleCall', 'single'],
  ['MultiCall', 'group'],
]);

/** v4 MediaType Audio / Video → the v1 audio / video. */
export const TRTC_V4_MEDIA_TYPE: ReadonlyMap<string, string> = new Map([
  ['Audio', 'audio'],
  ['Video', 'video'],
]);
