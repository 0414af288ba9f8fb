// Bounded-memory counting: per vendor × tenant × day, the distinct cdr_ids seen on one layer with the billable minutes
// of the latest version of each (a later offset of the same key replaces the earlier one; on the Kafka layers the
// latest received, wherever its day, see addVersion). Records themselves are never kept, only their ids.
import { createHash } from 'node:crypto';
import type { Vendor } from '../core/topology.ts';

export const bucketKey = (vendor: string, tenant: string, day: string) => `${vendor}\u0000${tenant}\u0000${day}`;

export function splitBucketKey(key: string): { vendor: Vendor; tenant: string; day: string } {
  const [vendor, tenant, day] = key.split('\u0000') as [Vendor, string, string];
  return { vendor, tenant, day };
}

export class Tally {
  readonly buckets = new Map<string, Map<string, number>>();
  /**
   * Per cdr_id counted by addVersion: the latest version read (counted, or outside the scope). A later version read
   * first outside the scope is not known when an earlier one in it comes: the topics' order is the order received.
   */
  private readonly versions = new Map<string, number>();

  add(vendor: string, tenant: string, day: string, cdrId: string, minutes: number): void {
    const key = bucketKey(vendor, tenant, day);
    let ids = this.buckets.get(key);
    if (!ids) this.buckets.set(key, (ids = new Map()));
    ids.set(cdrId, minutes);
  }

  /**
   * Counts the version of a record received at `version` (ms) on `day` (undefined: outside the scope or after the
   * cut-off). A record counts once, at its latest version, as cdr FINAL keeps it (ReplacingMergeTree(version), the
   * version being received_at; a tie goes to the one read later): a version with no start time received again on a
   * later day, or whose start a vendor moved across midnight, is not counted on the earlier version's day too.
   * Returns the bucket the record is now counted in, if this version is the one counted.
   */
  addVersion(vendor: string, tenant: string, day: string | undefined, cdrId: string, minutes: number, version: number): string | undefined {
    const seen = this.versions.get(cdrId);
    if (!supersedes(version, seen)) return undefined;
    const key = day === undefined ? undefined : bucketKey(vendor, tenant, day);
    // Only records counted in the scope are remembered: the topics hold far more than a run's days.
    if (seen === undefined && key === undefined) return undefined;
    // Versions of a record are nearly always on one day: only a version on another day is looked for in every bucket.
    if (seen !== undefined && !(key !== undefined && this.buckets.get(key)?.has(cdrId))) {
      for (const [k, ids] of this.buckets) {
        if (!ids.has(cdrId)) continue;
        this.delete(k, cdrId);
        break;
      }
    }
    this.versions.set(cdrId, version);
    if (key === undefined || day === undefined) return undefined;
    this.add(vendor, tenant, day, cdrId, minutes);
    return key;
  }

  /** The latest version (received_at ms) addVersion counted or read for `cdrId`; undefined for ids only `add`ed. */
  version(cdrId: string): number | undefined {
    return this.versions.get(cdrId);
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

/**
 * Whether a version of a call received at `version` (ms), read after one received at `held` (undefined: none), is the
 * one that counts: the later received, a tie to the one read later (on a topic, the later offset), as
 * ReplacingMergeTree(version) keeps the last inserted of equal versions. The same rule for counting (addVersion) and
 * for choosing what a repair appends again.
 */
export function supersedes(version: number, held: number | undefined): boolean {
  return held === undefined || version >= held;
}

const EMPTY: ReadonlyMap<string, number> = new Map();

/** Ids in `a` that are in none of `others`. */
export function difference(a: ReadonlyMap<string, unknown> | ReadonlySet<string>, ...others: (ReadonlyMap<string, unknown> | ReadonlySet<string>)[]): string[] {
  const out: string[] = [];
  for (const id of a.keys()) if (!others.some((o) => o.has(id))) out.push(id);
  return out;
}

/**
 * An order-independent fingerprint of a set of cdr_ids, to tell whether two layers hold the same ids without fetching
 * them: equal counts with one id missing and another extra read as agreement. The XOR of the first 8 bytes of
 * sha256(UTF-8 cdr_id), read little-endian as ClickHouse's reinterpretAsUInt64 reads them, so `ID_FINGERPRINT_SQL`
 * computes the same over a table. The ids must be distinct: an id given twice cancels out.
 */
export function idsFingerprint(ids: Iterable<string>): bigint {
  let fp = 0n;
  for (const id of ids) fp ^= createHash('sha256').update(id, 'utf8').digest().readBigUInt64LE(0);
  return fp;
}

/** idsFingerprint as a ClickHouse aggregate over a cdr_id column (UInt64); Distinct, as a Tally keeps each id once. */
export const ID_FINGERPRINT_SQL = (column: string) => `groupBitXorDistinct(reinterpretAsUInt64(substring(SHA256(${column}), 1, 8)))`;

/**
 * idsFingerprint over (cdr_id, version) pairs: equal ids whose versions differ (a layer holding a stale version of a
 * call, counts and minutes alike) give different fingerprints. The pair is hashed as `cdr_id`, a NUL, then the version
 * in decimal, as `VERSION_FINGERPRINT_SQL` builds it.
 */
export function versionsFingerprint(pairs: Iterable<readonly [string, number]>): bigint {
  return idsFingerprint(Array.from(pairs, ([id, version]) => `${id}\u0000${version}`));
}

/** versionsFingerprint as a ClickHouse aggregate over a cdr_id and a UInt64 version column, one row per cdr_id (cdr FINAL). */
export const VERSION_FINGERPRINT_SQL = (idColumn: string, versionColumn: string) => ID_FINGERPRINT_SQL(`concat(${idColumn}, '\\0', toString(${versionColumn}))`);
