import { describe, expect, it } from 'vitest';
import { emptyMap, entries, get, remove, set } from './persistent-map.ts';

describe('persistent map', () => {
  it('behaves like a Map, leaving every earlier version untouched', () => {
    const reference = new Map<string, number>();
    let map = emptyMap<number>();
    const versions: [typeof map, Map<string, number>][] = [];
    for (let i = 0; i < 5_000; i += 1) {
      const key = `k${(i * 7919) % 3_000}`;
      if (i % 5 === 4) {
        map = remove(map, key);
        reference.delete(key);
      } else {
        map = set(map, key, i);
        reference.set(key, i);
      }
      if (i % 1_000 === 0) versions.push([map, new Map(reference)]);
    }
    for (const [version, expected] of [...versions, [map, reference] as const]) {
      expect(version.size).toBe(expected.size);
      expect(new Map(entries(version))).toEqual(expected);
      for (const [key, value] of expected) expect(get(version, key)).toBe(value);
    }
  });

  it('treats ids such as constructor and __proto__ as ordinary keys', () => {
    let map = emptyMap<string>();
    expect(get(map, 'constructor')).toBeUndefined();
    map = set(set(map, '__proto__', 'a'), 'constructor', 'b');
    expect([get(map, '__proto__'), get(map, 'constructor'), get(map, 'toString')]).toEqual(['a', 'b', undefined]);
    expect(remove(map, 'hasOwnProperty')).toBe(map);
  });
});
