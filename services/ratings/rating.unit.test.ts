import { describe, expect, it } from 'vitest';
import {
  addRating,
  averageOf,
  compareIds,
  compareLeaderboard,
  InvalidRating,
  NO_RATINGS,
  toTenths,
  type LeaderboardEntry,
  type RatingTotals,
} from './rating.ts';

/** A small seeded generator (mulberry32): the random checks below are the same on every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (next: () => number, max: number) => Math.floor(next() * (max + 1));

describe('toTenths', () => {
  it('takes 0–10 with at most one decimal', () => {
    expect(toTenths(0)).toBe(0);
    expect(toTenths(-0)).toBe(0);
    expect(Object.is(toTenths(-0), 0)).toBe(true);
    expect(toTenths(7.5)).toBe(75);
    expect(toTenths(10)).toBe(100);
    expect(toTenths(0.1)).toBe(1);
    expect(toTenths(9.9)).toBe(99);
    // Every one-decimal value, as JSON would parse it.
    for (let tenths = 0; tenths <= 100; tenths++) expect(toTenths(Number((tenths / 10).toFixed(1)))).toBe(tenths);
  });

  it.each([-0.1, 10.1, 11, -1, 7.25, 7.05, 0.01, 7.300000000000001, 1e-9, NaN, Infinity, -Infinity])('refuses %s', (rating) => {
    expect(() => toTenths(rating)).toThrow(InvalidRating);
    expect(() => toTenths(rating)).toThrow(/from 0 to 10 with at most one decimal/);
  });

  it('refuses what is not a number at run time', () => {
    expect(() => toTenths('7' as unknown as number)).toThrow(InvalidRating);
    expect(() => toTenths(null as unknown as number)).toThrow(InvalidRating);
  });

  it('says which code the API answers with', () => {
    const error = (() => {
      try {
        toTenths(11);
      } catch (e) {
        return e as InvalidRating;
      }
    })();
    expect(error).toBeInstanceOf(Error);
    expect(error?.name).toBe('InvalidRating');
    expect(error?.code).toBe('BAD_USER_INPUT');
  });
});

describe('totals and averages', () => {
  it('adds ratings as integers and averages once', () => {
    let totals: RatingTotals = NO_RATINGS;
    for (const rating of [0.1, 0.2, 0.3]) totals = addRating(totals, toTenths(rating));
    expect(totals).toEqual({ count: 3, sumTenths: 6 });
    // 0.1 + 0.2 + 0.3 in floats is 0.6000000000000001; here it is 0.2 exactly as printed.
    expect(averageOf(totals)).toBe(0.2);
    expect(NO_RATINGS).toEqual({ count: 0, sumTenths: 0 });
  });

  it('refuses a non-integer or out-of-range number of tenths, and averaging nothing', () => {
    expect(() => addRating(NO_RATINGS, 7.5)).toThrow(/in tenths, an integer from 0 to 100.*got 7\.5/);
    expect(() => addRating(NO_RATINGS, 101)).toThrow(RangeError);
    expect(() => addRating(NO_RATINGS, -1)).toThrow(RangeError);
    expect(() => addRating(NO_RATINGS, NaN)).toThrow(RangeError);
    expect(() => averageOf(NO_RATINGS)).toThrow(RangeError);
  });

  it('property: after many random ratings the average is the exact rational (within 1e-12)', () => {
    const next = random(42);
    for (let run = 0; run < 200; run++) {
      let totals = NO_RATINGS;
      let floatSum = 0;
      const n = 1 + int(next, 5000);
      for (let i = 0; i < n; i++) {
        const tenths = int(next, 100);
        totals = addRating(totals, toTenths(tenths / 10));
        floatSum += tenths / 10;
      }
      // The exact quotient sumTenths / (10·count), to 18 decimals, in integers.
      const scale = 10n ** 18n;
      const exact = Number((BigInt(totals.sumTenths) * scale) / BigInt(totals.count * 10)) / Number(scale);
      expect(Math.abs(averageOf(totals) - exact)).toBeLessThan(1e-12);
      expect(totals.count).toBe(n);
      // The integer sum is what the float sum only approximates.
      expect(Math.abs(floatSum - totals.sumTenths / 10)).toBeLessThan(1e-6);
    }
  });
});

describe('compareLeaderboard', () => {
  const entry = (movieId: string, ...ratings: number[]): LeaderboardEntry => ({
    movieId,
    ...ratings.reduce((t, r) => addRating(t, toTenths(r)), NO_RATINGS),
  });
  const order = (...entries: LeaderboardEntry[]) => [...entries].sort(compareLeaderboard).map((e) => e.movieId);

  it('orders by average desc, then count desc, then id asc', () => {
    expect(order(entry('1', 7), entry('2', 9), entry('3', 8))).toEqual(['2', '3', '1']);
    expect(order(entry('1', 8), entry('2', 8, 8, 8), entry('3', 7, 9))).toEqual(['2', '3', '1']);
    expect(order(entry('20', 5), entry('3', 5), entry('100', 5))).toEqual(['3', '20', '100']);
    // Unrated movies come after every rated one.
    expect(order(entry('1'), entry('2', 0))).toEqual(['2', '1']);
  });

  it('ties averages exactly where floats would not: 0.1+0.2 averaged vs 0.15', () => {
    // (0.1 + 0.2) / 2 and (0.3 + 0) / 2 are both 0.15: equal, so more ratings, then id, decide.
    expect(order(entry('2', 0.3, 0), entry('1', 0.1, 0.2))).toEqual(['1', '2']);
    expect(compareLeaderboard(entry('1', 0.1, 0.2), entry('1', 0.3, 0))).toBe(0);
  });

  it('compares exactly beyond safe-integer products', () => {
    const huge = 10_000_000_000;
    const a = { movieId: '1', count: huge, sumTenths: 75 * huge };
    const b = { movieId: '2', count: huge + 1, sumTenths: 75 * huge + 74 }; // a hair below 7.5
    expect(75 * huge * (huge + 1)).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    expect(compareLeaderboard(a, b)).toBeLessThan(0);
    expect(compareLeaderboard(b, a)).toBeGreaterThan(0);
  });

  it('orders ids as integers, also beyond 2^53, and other ids after them', () => {
    expect(['1200', '362', '9007199254740993', '9007199254740992', 'abc', '07'].sort(compareIds)).toEqual([
      '362',
      '1200',
      '9007199254740992',
      '9007199254740993',
      '07',
      'abc',
    ]);
  });

  it('property: a total order consistent with the rule, on random entries with many ties', () => {
    const next = random(7);
    const entries: LeaderboardEntry[] = [];
    for (let i = 0; i < 300; i++) {
      // Few distinct ratings and counts, so equal averages from different sums are common.
      const count = int(next, 6);
      let totals = NO_RATINGS;
      for (let r = 0; r < count; r++) totals = addRating(totals, [0, 25, 50, 75, 100][int(next, 4)]);
      entries.push({ movieId: String(int(next, 100_000) * 1000 + i), ...totals });
    }
    // The rule, with averages as exact rationals in BigInt.
    const reference = (a: LeaderboardEntry, b: LeaderboardEntry): number => {
      if ((a.count === 0) !== (b.count === 0)) return a.count === 0 ? 1 : -1;
      if (a.count > 0) {
        const diff = BigInt(b.sumTenths) * BigInt(a.count) - BigInt(a.sumTenths) * BigInt(b.count);
        if (diff !== 0n) return diff > 0n ? 1 : -1;
      }
      if (a.count !== b.count) return b.count - a.count;
      const [x, y] = [BigInt(a.movieId), BigInt(b.movieId)];
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const broken: string[] = [];
    for (const a of entries) {
      for (const b of entries) {
        const sign = Math.sign(compareLeaderboard(a, b));
        const pair = JSON.stringify([a, b]);
        if (sign !== Math.sign(reference(a, b))) broken.push(`against the rule: ${pair}`);
        if (sign !== (-Math.sign(compareLeaderboard(b, a)) || 0)) broken.push(`not antisymmetric: ${pair}`);
        // Total: only an entry equals itself (ids are distinct).
        if ((sign === 0) !== (a === b)) broken.push(`not total: ${pair}`);
      }
    }
    expect(broken).toEqual([]);
    // Transitive: a sorted list is ordered pairwise, whichever order the sort met the entries in.
    const sorted = [...entries].sort(compareLeaderboard);
    const again = [...entries].reverse().sort(compareLeaderboard);
    expect(again).toEqual(sorted);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        if (compareLeaderboard(sorted[i], sorted[j]) >= 0) broken.push(`not transitive: ${JSON.stringify([sorted[i], sorted[j]])}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
