/**
 * Exact rating arithmetic, pure. A rating is 0–10 with at most one decimal, so it is held as an integer number of
 * tenths (0..100); totals are integer sums, so redelivery checks, replays and sums never drift. Floats appear only
 * once, when an average is shown.
 */

/** A rating that breaks the rule. `code` is what the GraphQL error should carry. */
export class InvalidRating extends Error {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly rating: unknown) {
    super(`a rating must be a number from 0 to 10 with at most one decimal (such as 7 or 7.5), got ${String(rating)}`);
    this.name = 'InvalidRating';
  }
}

/** The highest rating, in tenths. */
export const MAX_TENTHS = 100;

/**
 * The rating in tenths (7.5 → 75). Throws `InvalidRating` for anything outside 0–10, with a second decimal
 * (7.25), or not finite.
 */
export function toTenths(rating: number): number {
  if (typeof rating !== 'number' || !Number.isFinite(rating) || rating < 0 || rating > 10) throw new InvalidRating(rating);
  const tenths = Math.round(rating * 10);
  // `tenths / 10` is the double nearest to that one-decimal number, as parsing "7.3" is: equal exactly when the
  // rating was written with at most one decimal (7.25 and 7.30000000001 are not).
  if (tenths / 10 !== rating) throw new InvalidRating(rating);
  return tenths + 0; // + 0 turns -0 into 0
}

/** One movie's ratings: how many, and their sum in tenths. */
export interface RatingTotals {
  count: number;
  sumTenths: number;
}

export const NO_RATINGS: RatingTotals = Object.freeze({ count: 0, sumTenths: 0 });

/**
 * The totals with one more rating of `tenths` (an integer 0..100, from `toTenths`). Anything else is a bug in
 * the caller, not bad input, hence a RangeError.
 */
export function addRating(totals: RatingTotals, tenths: number): RatingTotals {
  if (!Number.isInteger(tenths) || tenths < 0 || tenths > MAX_TENTHS) {
    throw new RangeError(`a rating is added in tenths, an integer from 0 to ${MAX_TENTHS} (see toTenths), got ${tenths}`);
  }
  return { count: totals.count + 1, sumTenths: totals.sumTenths + tenths };
}

/**
 * The average rating (0–10): one division of two integers, so the result is the double nearest to the exact
 * rational sum / count. Throws when there are no ratings (the API shows `rating: null` then).
 */
export function averageOf(totals: RatingTotals): number {
  if (totals.count <= 0) throw new RangeError('no ratings yet: there is no average');
  return totals.sumTenths / (totals.count * 10);
}

/** What the leaderboard orders: a movie's id and its totals. */
export interface LeaderboardEntry extends RatingTotals {
  movieId: string;
}

/**
 * The leaderboard's order, for `Array.prototype.sort`: average desc, then count desc, then id asc. Averages are
 * compared exactly as cross-products of integers (a.sum × b.count vs b.sum × a.count), never as floats, so two
 * movies with the same average tie however their sums were reached. Movies without ratings come last.
 */
export function compareLeaderboard(a: LeaderboardEntry, b: LeaderboardEntry): number {
  if (a.count === 0 || b.count === 0) {
    if (a.count !== b.count) return a.count === 0 ? 1 : -1;
  } else {
    const byAverage = compareProducts(b.sumTenths, a.count, a.sumTenths, b.count);
    if (byAverage !== 0) return byAverage;
  }
  if (a.count !== b.count) return b.count - a.count;
  return compareIds(a.movieId, b.movieId);
}

/** Sign of x1·y1 − x2·y2, exactly: in doubles while the products are safe integers, else in BigInt. */
function compareProducts(x1: number, y1: number, x2: number, y2: number): number {
  const left = x1 * y1;
  const right = x2 * y2;
  if (Number.isSafeInteger(left) && Number.isSafeInteger(right)) return Math.sign(left - right);
  const exact = BigInt(x1) * BigInt(y1) - BigInt(x2) * BigInt(y2);
  return exact === 0n ? 0 : exact > 0n ? 1 : -1;
}

const CANONICAL_INTEGER = /^(0|[1-9][0-9]*)$/;

/**
 * Ids ascending as numbers (the catalog's ids are bigints: 362 before 1200), without parsing them, so ids beyond
 * 2^53 still order exactly. Ids that are not plain integers come after them, in code-unit order.
 */
export function compareIds(a: string, b: string): number {
  const aNumeric = CANONICAL_INTEGER.test(a);
  const bNumeric = CANONICAL_INTEGER.test(b);
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1;
  if (aNumeric && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
