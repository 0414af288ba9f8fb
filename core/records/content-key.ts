// The raw-topic key of a record that carries no id of its own (Huawei without sessionId and icid, an LVMS DTO without
// call_record_id and the composite's parts): its text's SHA-256, so a re-push of the same text lands on the same key.
// Normalize dead-letters such a record; it is stored only so that nothing the vendor sent is lost.
import { createHash } from 'node:crypto';

export const CONTENT_KEY_SOURCE = 'payload-sha256';

export function contentKey(payload: string): { key: string; source: typeof CONTENT_KEY_SOURCE } {
  return { key: `sha256:${createHash('sha256').update(payload, 'utf8').digest('hex')}`, source: CONTENT_KEY_SOURCE };
}
