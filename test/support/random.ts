/** A seeded random source for property tests: a failure names its seed, and the same seed replays the same case. */
export interface Random {
  seed: number;
  /** A float in [0, 1). */
  next(): number;
  int(below: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
}

/** mulberry32: small, fast, and good enough to spread test cases. */
export function random(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number) => Math.floor(next() * below);
  return {
    seed,
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)],
    shuffle(items) {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i -= 1) {
        const j = int(i + 1);
        [copy[i], copy[j]] = [copy[j], copy[i]];
      }
      return copy;
    },
  };
}

/**
 * The log of several topics as a projector may read it: each topic's messages in their order, the topics
 * interleaved at random, cut into batches of random sizes.
 */
export function randomBatches<T>(rng: Random, topics: readonly T[][]): T[][] {
  const cursors = topics.map(() => 0);
  const merged: T[] = [];
  for (;;) {
    const open = topics.map((messages, i) => i).filter((i) => cursors[i] < topics[i].length);
    if (!open.length) break;
    const i = rng.pick(open);
    merged.push(topics[i][cursors[i]++]);
  }
  const batches: T[][] = [];
  for (let from = 0; from < merged.length;) {
    const size = 1 + rng.int(4);
    batches.push(merged.slice(from, from + size));
    from += size;
  }
  return batches;
}
