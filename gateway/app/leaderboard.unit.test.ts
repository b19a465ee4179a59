import { describe, expect, it } from 'vitest';
import { formatAverage, movedRows } from './leaderboard.ts';

describe('movedRows', () => {
  it('highlights nothing on the first list', () => {
    expect(movedRows(undefined, ['1', '2'])).toEqual(new Set());
  });

  it('highlights rows that moved or are new, not those that kept their place', () => {
    expect(movedRows(['1', '2', '3'], ['1', '3', '2'])).toEqual(new Set(['3', '2']));
    expect(movedRows(['1', '2'], ['1', '2', '362'])).toEqual(new Set(['362']));
    expect(movedRows(['1', '2', '3'], ['362', '1', '2'])).toEqual(new Set(['362', '1', '2']));
    expect(movedRows(['1', '2'], ['1', '2'])).toEqual(new Set());
  });
});

describe('formatAverage', () => {
  it('shows two decimals', () => {
    expect(formatAverage(7.5)).toBe('7.50');
    expect(formatAverage(20 / 3)).toBe('6.67');
    expect(formatAverage(10)).toBe('10.00');
  });
});
