// Memos of the mapping's expensive look-ups (phone parses, time-zone offsets), one per group (a region, a zone) so
// the raw value itself is the key and no key string is built per look-up.
/** Bounded per group: a full memo is dropped wholesale, which costs one recomputation per key, never a wrong answer. */
export class GroupedMemo<K, V> {
  private readonly groups = new Map<string, Map<K, V>>();

  constructor(private readonly limit: number) {}

  /** The memo of one group (made on first use). */
  of(group: string): Map<K, V> {
    let memo = this.groups.get(group);
    if (memo === undefined) {
      memo = new Map();
      this.groups.set(group, memo);
    }
    return memo;
  }

  /** Keeps `value` under `key` in `memo` (one of this memo's groups), and returns it. */
  remember(memo: Map<K, V>, key: K, value: V): V {
    if (memo.size >= this.limit) memo.clear();
    memo.set(key, value);
    return value;
  }

  /** Every key held, over all groups (what the memo costs: its bound's tests count them). */
  *keys(): IterableIterator<K> {
    for (const memo of this.groups.values()) yield* memo.keys();
  }
}
