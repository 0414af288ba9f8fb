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
  const entry = code === null ? undefined : TRTC_CALL_RESULT[code];
  if (!entry) return { status: 'UNKNOWN', code, text: null, answered: 'if-accepted', side: null };
  return { status: entry.status, code, text: entry.meaning, answered: entry.answered, side: entry.side };
}

export const TRTC_MEDIA_CHANNEL: Readonly<Record<string, 'VIDEO' | 'VOIP'>> = codeTable({ video: 'VIDEO', audio: 'VOIP' });
