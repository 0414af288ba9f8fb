// What a mapper returns: a normalized CDR, or the reason the record cannot be normalized (never a throw), so the
// normalize stage can dead-letter bad data with its reason and keep going.
import { boundReason } from '../../core/input-limits.ts';
import type { NormalizedCdr } from './cdr.ts';

export interface NormalizeFailure {
  kind: 'bad_record';
  message: string;
  /** Known when the record got far enough to have an identity; lets the DLQ row point at the call. */
  cdr_id: string | null;
}

export type NormalizeResult = { ok: true; cdr: NormalizedCdr } | { ok: false; error: NormalizeFailure };

export const ok = (cdr: NormalizedCdr): NormalizeResult => ({ ok: true, cdr });

/** The message is bounded and escaped here, once for every mapper: one line, a few hundred characters at most. */
export const badRecord = (message: string, cdrId: string | null = null): NormalizeResult => ({
  ok: false,
  error: { kind: 'bad_record', message: boundReason(message), cdr_id: cdrId },
});
