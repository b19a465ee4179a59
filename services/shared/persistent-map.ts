/**
 * An immutable map from string ids to values (a 32-way hash trie): `set` and `remove` return a new map that
 * shares all but one path with the old one, so a pure `evolve` costs a few dozen copied slots per event however
 * many entries its state holds (the dispatcher's drivers and rides, a product's reservations), instead of copying
 * a record of all of them. Keys are compared as strings, so ids such as `constructor` or `__proto__` are ordinary
 * keys.
 */

interface Entry<V> { hash: number; key: string; value: V }
// A bucket holds one entry above the deepest level, and every colliding entry at it.
type Slot<V> = Node<V> | Entry<V>[] | undefined;
interface Node<V> { slots: readonly Slot<V>[] }

export interface PersistentMap<V> {
  readonly root: Node<V>;
  readonly size: number;
}

const BITS = 5;
const WIDTH = 1 << BITS;
const DEEPEST = 6; // 6 × 5 bits of the 32-bit hash; beyond it, keys share a bucket

const emptyNode = <V>(): Node<V> => ({ slots: new Array<Slot<V>>(WIDTH).fill(undefined) });

export function emptyMap<V>(): PersistentMap<V> {
  return { root: emptyNode(), size: 0 };
}

/** FNV-1a, 32 bits. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const indexAt = (hash: number, depth: number) => (hash >>> (depth * BITS)) & (WIDTH - 1);

export function get<V>(map: PersistentMap<V>, key: string): V | undefined {
  const hash = hashOf(key);
  let node = map.root;
  for (let depth = 0; ; depth += 1) {
    const slot = node.slots[indexAt(hash, depth)];
    if (!slot) return undefined;
    if (Array.isArray(slot)) return slot.find((e) => e.key === key)?.value;
    node = slot as Node<V>;
  }
}

function withSlot<V>(node: Node<V>, index: number, slot: Slot<V>): Node<V> {
  const slots = node.slots.slice();
  slots[index] = slot;
  return { slots };
}

function insert<V>(node: Node<V>, entry: Entry<V>, depth: number): { node: Node<V>; added: boolean } {
  const index = indexAt(entry.hash, depth);
  const slot = node.slots[index];
  if (!slot) return { node: withSlot(node, index, [entry]), added: true };
  if (!Array.isArray(slot)) {
    const inner = insert(slot as Node<V>, entry, depth + 1);
    return { node: withSlot(node, index, inner.node), added: inner.added };
  }
  const at = slot.findIndex((e) => e.key === entry.key);
  if (at >= 0) return { node: withSlot(node, index, slot.map((e, i) => (i === at ? entry : e))), added: false };
  if (depth === DEEPEST) return { node: withSlot(node, index, [...slot, entry]), added: true };
  // Two keys on one path: push the one already here a level down, then the new one.
  const child = insert(emptyNode<V>(), slot[0], depth + 1).node;
  return { node: withSlot(node, index, insert(child, entry, depth + 1).node), added: true };
}

export function set<V>(map: PersistentMap<V>, key: string, value: V): PersistentMap<V> {
  const { node, added } = insert(map.root, { hash: hashOf(key), key, value }, 0);
  return { root: node, size: map.size + (added ? 1 : 0) };
}

function removeFrom<V>(node: Node<V>, hash: number, key: string, depth: number): Node<V> | undefined {
  const index = indexAt(hash, depth);
  const slot = node.slots[index];
  if (!slot) return undefined;
  if (Array.isArray(slot)) {
    if (!slot.some((e) => e.key === key)) return undefined;
    const rest = slot.filter((e) => e.key !== key);
    return withSlot(node, index, rest.length ? rest : undefined);
  }
  const inner = removeFrom(slot as Node<V>, hash, key, depth + 1);
  return inner && withSlot(node, index, inner);
}

export function remove<V>(map: PersistentMap<V>, key: string): PersistentMap<V> {
  const root = removeFrom(map.root, hashOf(key), key, 0);
  return root ? { root, size: map.size - 1 } : map;
}

/** Every entry, in no particular order (callers that need one sort, e.g. ties by id). */
export function* entries<V>(map: PersistentMap<V>): Generator<[string, V]> {
  const stack: Node<V>[] = [map.root];
  while (stack.length) {
    for (const slot of stack.pop()!.slots) {
      if (!slot) continue;
      if (Array.isArray(slot)) for (const e of slot) yield [e.key, e.value];
      else stack.push(slot as Node<V>);
    }
  }
}
