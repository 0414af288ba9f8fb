// The raw-topic key of a Huawei record: sessionId (Huawei's own dedup key, the same in fee and call events). A record
// without one is still stored raw (the batch it came in must not be refused for it) under a stable fallback key, and
// the normalize stage dead-letters it; the fallback is deterministic, so a re-push lands on the same key.
import { CONTENT_KEY_SOURCE, contentKey } from './content-key.ts';
import { parseJsonStrict, replacementCharProblem, type StrictJson } from '../input-limits.ts';

export type HuaweiKeySource = 'sessionId' | 'icid' | typeof CONTENT_KEY_SOURCE;

/** The record's sessionId when it is one (a non-blank string), as every path keys a record by it; else null. */
export function huaweiSessionId(record: Record<string, unknown>): string | null {
  const sessionId = record['sessionId'];
  return typeof sessionId === 'string' && sessionId.trim() !== '' ? sessionId : null;
}

export function huaweiNaturalKey(record: Record<string, unknown>, payload: string): { key: string; source: HuaweiKeySource } {
  const sessionId = huaweiSessionId(record);
  if (sessionId !== null) return { key: sessionId, source: 'sessionId' };
  const icid = record['icid'];
  if (typeof icid === 'string' && icid.trim() !== '') return { key: `icid:${icid}`, source: 'icid' };
  return contentKey(payload);
}

/**
 * A Huawei push body, or a line of `cdrflow import`, read by the door's rules (core/input-limits.ts): strict JSON, and
 * no U+FFFD, which a push never carries and which stands where bytes were lost before the text reached us. The receiver
 * and the import read by this one rule, so a text one refuses is never stored by the other.
 */
export function parseHuaweiText(text: string): StrictJson {
  const strict = parseJsonStrict(text);
  if (!strict.ok) return strict;
  const problem = replacementCharProblem(text);
  return problem === null ? strict : { ok: false, problem };
}
