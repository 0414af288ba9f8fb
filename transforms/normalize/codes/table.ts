// Code tables are looked up with values a vendor (or an attacker posing as one) chooses. A plain object literal
// inherits `constructor`, `toString`, `__proto__`…, so `"Direction":"constructor"` would find a function instead of
// nothing. Every table is built here without a prototype: only the codes written in it can ever match.
export function codeTable<K extends string | number, V>(entries: Record<K, V>): Readonly<Record<K, V>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<K, V>, entries));
}
