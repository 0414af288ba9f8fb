// The raw-topic key of a Huawei record: sessionId (Huawei's own dedup key, the same in fee and call events). A record
// without one is still stored raw (the batch it came in must not be refused for it) under a stable fallback key, and
// the normalize stage dead-letters it; the fallback is deterministic, so a re-push lands on the same key.
import { CONTENT_KEY_SOURCE, contentKey } from './content-key.ts';

export type HuaweiKeySource = 'sessionId' | 'icid' | typeof CONTENT_KEY_SOURCE;

export function huaweiNaturalKey(record: Record<string, unknown>, payload: string): { key: string; source: HuaweiKeySource } {
  const sessionId = record['sessionId'];
  if (typeof sessionId === 'string' && sessionId.trim() !== '') return { key: sessionId, source: 'sessionId' };
  const icid = record['icid'];
  if (typeof icid === 'string' && icid.trim() !== '') return { key: `icid:${icid}`, source: 'icid' };
  return contentKey(payload);
}
