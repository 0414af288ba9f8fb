// Alibaba LVMS robot-call codes as data (docs/vendors.md §3 "Code tables"). TOP documents neither enum; both are inferred
// from the 一知/tanyibot open API whose DTO names match exactly, so unknown values are expected and pass through.
import type { EndStatus } from '../cdr.ts';
import { codeTable } from './table.ts';

export interface LvmsResultMeaning {
  status: EndStatus;
  text: string;
}

/**
 * The 10 inferred `result_status` values. The four "cannot reach" values are split by what they say about the
 * callee: powered off, suspended and vacant numbers are states of the called line (UNREACHABLE); CAN_NOT_CONNECT
 * ("无法接通") is what Chinese carriers announce for a handset without signal or out of coverage, also a callee-side
 * state, so UNREACHABLE too rather than FAILED. FROM_PHONE_ERROR is our own caller line failing → FAILED.
 */
export const RESULT_STATUSES: Readonly<Record<string, LvmsResultMeaning>> = codeTable({
  ANSWERED: { status: 'ANSWERED', text: 'Answered' },
  NO_ANSWER: { status: 'NO_ANSWER', text: 'Not answered' },
  BUSY: { status: 'BUSY', text: 'Busy' },
  POWER_OFF: { status: 'UNREACHABLE', text: 'Powered off' },
  OUT_OF_SERVICE: { status: 'UNREACHABLE', text: 'Callee suspended' },
  REFUSED: { status: 'REJECTED', text: 'Rejected' },
  VACANT_NUMBER: { status: 'UNREACHABLE', text: 'Vacant number' },
  CAN_NOT_CONNECT: { status: 'UNREACHABLE', text: 'Cannot connect' },
  FROM_PHONE_ERROR: { status: 'FAILED', text: 'Caller line unavailable' },
  SYSTEM_ERROR: { status: 'SYSTEM_ERROR', text: 'Outbound call failed' },
});

type LvmsEndStatus = Readonly<LvmsResultMeaning & { known: boolean }>;

/** The answers for the known codes, built once (a Map: only the codes in the table can match). */
const KNOWN_END_STATUSES: ReadonlyMap<string, LvmsEndStatus> = new Map(
  Object.entries(RESULT_STATUSES).map(([code, meaning]) => [code, Object.freeze({ ...meaning, known: true })]),
);

/** Case and surrounding blanks are not meaningful in an enum name sent by a third party; anything else is. */
export function endStatusFor(resultStatus: string | null): LvmsEndStatus {
  if (resultStatus === null) return { status: 'UNKNOWN', text: 'No result_status', known: false };
  // The code as sent first: nearly always it is already the table's spelling, and nothing is allocated for it.
  const meaning = KNOWN_END_STATUSES.get(resultStatus) ?? KNOWN_END_STATUSES.get(resultStatus.trim().toUpperCase());
  return meaning ?? { status: 'UNKNOWN', text: 'Unknown result_status', known: false };
}

/** Built-in intent tag group (intent_level_tag_id 0): code 0..5 → A..F. Custom groups have their own names. */
export const BUILT_IN_INTENT_TAG_ID = 0;
export const BUILT_IN_INTENT_LEVELS: Readonly<Record<number, string>> = codeTable({
  0: 'A',
  1: 'B',
  2: 'C',
  3: 'D',
  4: 'E',
  5: 'F',
});
