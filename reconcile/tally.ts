// Bounded-memory counting: per vendor × tenant × day, the distinct cdr_ids seen on one layer with the billable minutes
// of the latest version of each (a later offset of the same key replaces the earlier one). Records themselves are
// never kept, only their ids.
import type { Vendor } from '../core/topology.ts';

export const bucketKey = (vendor: string, tenant: string, day: string) => `${vendor}\u0000${tenant}\u0000${day}`;

export function splitBucketKey(key: string): { vendor: Vendor; tenant: string; day: string } {
  const [vendor, tenant, day] = key.split('\u0000') as [Vendor, string, string];
  return { vendor, tenant, day };
}

export class Tally {
  readonly buckets = new Map<string, Map<string, number>>();

  add(vendor: string, tenant: string, day: string, cdrId: string, minutes: number): void {
    const key = bucketKey(vendor, tenant, day);
    let ids = this.buckets.get(key);
    if (!ids) this.buckets.set(key, (ids = new Map()));
    ids.set(cdrId, minutes);
  }

  delete(key: string, cdrId: string): void {
    const ids = this.buckets.get(key);
    if (!ids?.delete(cdrId) || ids.size > 0) return;
    this.buckets.delete(key);
  }

  ids(key: string): ReadonlyMap<string, number> {
    return this.buckets.get(key) ?? EMPTY;
  }

  count(key: string): number {
    return this.buckets.get(key)?.size ?? 0;
  }

  minutes(key: string): number {
    let sum = 0;
    for (const m of this.ids(key).values()) sum += m;
    return sum;
  }
}

const EMPTY: ReadonlyMap<string, number> = new Map();

/** Ids in `a` that are in none of `others`. */
export function difference(a: ReadonlyMap<string, unknown> | ReadonlySet<string>, ...others: (ReadonlyMap<string, unknown> | ReadonlySet<string>)[]): string[] {
  const out: string[] = [];
  for (const id of a.keys()) if (!others.some((o) => o.has(id))) out.push(id);
  return out;
}
