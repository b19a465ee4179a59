/**
 * State keyed by client-chosen ids lives in plain records; a lookup must find only the record's own entries,
 * or an id such as `constructor`, `toString` or `__proto__` finds Object.prototype's instead.
 */

/** The record's own entry for `key`, or undefined. */
export function own<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Whether the record has its own entry for `key`. */
export function has(record: Readonly<Record<string, unknown>>, key: string): boolean {
  return Object.hasOwn(record, key);
}
