// A normalized CDR's identity from its raw record's key: the one rule every stage and check that matches records
// across layers (normalize, reconcile and its repair, the end-to-end fixtures) goes through, so they cannot disagree.
// Raw topics keep the vendor's key verbatim; downstream of them, with a PII key, an LVMS composite key
// (`job:<id>|<called number>|<start>`) carries the keyed hash of the number instead of the number. The hash is of the
// number's text as it stands in the raw key (not its E.164 form), so the normalized key is a function of the raw key
// and the PII key alone: every replay, backfill and path gives the same cdr_id.
import { compositeKey, compositeParts } from '../../core/records/lvms-key.ts';
import type { Vendor } from '../../core/topology.ts';
import { hashIdentifier } from './parties.ts';

export const cdrIdOf = (vendor: Vendor, tenantId: string, naturalKey: string) => `${vendor}:${tenantId}:${naturalKey}`;

/** The natural key a normalized CDR carries for a raw record keyed `rawKey`. */
export function normalizedNaturalKey(vendor: Vendor, rawKey: string, piiKey: string | null): string {
  if (vendor !== 'alibaba-lvms' || piiKey === null) return rawKey;
  const parts = compositeParts(rawKey);
  return parts ? compositeKey({ ...parts, called: hashIdentifier(parts.called, piiKey) }) : rawKey;
}

/** The cdr_id of the normalized CDR of a raw record of `vendor` and `tenantId` keyed `rawKey`. */
export function normalizedCdrId(vendor: Vendor, tenantId: string, rawKey: string, piiKey: string | null): string {
  return cdrIdOf(vendor, tenantId, normalizedNaturalKey(vendor, rawKey, piiKey));
}
