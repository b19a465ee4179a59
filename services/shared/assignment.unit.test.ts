import { describe, expect, it } from 'vitest';
import { assignPartitions } from './assignment.ts';

const PARTITIONS = [0, 1, 2, 3, 4, 5];
const asObject = (assigned: Map<string, number[]>) => Object.fromEntries(assigned);

describe('assigning partition numbers to the instances of a service', () => {
  it('gives every partition number to exactly one instance, fairly', () => {
    const assigned = assignPartitions([{ memberId: 'b', holding: [] }, { memberId: 'a', holding: [] }, { memberId: 'c', holding: [] }], PARTITIONS, false);
    expect([...assigned.values()].flat().sort()).toEqual(PARTITIONS);
    expect([...assigned.values()].map((p) => p.length)).toEqual([2, 2, 2]);
  });

  it('counts a number present in several topics once', () => {
    expect(asObject(assignPartitions([{ memberId: 'a', holding: [] }], [...PARTITIONS, ...PARTITIONS, 6], false))).toEqual({ a: [0, 1, 2, 3, 4, 5, 6] });
  });

  it('leaves an instance the partitions it holds, within its share, so a join moves as little state as it can', () => {
    const joined = assignPartitions([{ memberId: 'z-old', holding: PARTITIONS }, { memberId: 'a-new', holding: [] }], PARTITIONS, false);
    // It keeps a spread of them, so state filling partitions from 0 up (three regions on 0, 1, 2) lands on both.
    expect(asObject(joined)).toEqual({ 'z-old': [0, 2, 4], 'a-new': [1, 3, 5] });
    // One of three leaves: the two others keep theirs and share its partitions.
    const left = assignPartitions([{ memberId: 'a', holding: [0, 1] }, { memberId: 'c', holding: [4, 5] }], PARTITIONS, false);
    expect(asObject(left)).toEqual({ a: [0, 1, 2], c: [3, 4, 5] });
  });

  it('gives a single-aggregate service’s partitions all to one instance, preferably the one already holding its state', () => {
    expect(asObject(assignPartitions([{ memberId: 'a', holding: [] }, { memberId: 'b', holding: [0] }], PARTITIONS, true))).toEqual({ a: [], b: PARTITIONS });
    expect(asObject(assignPartitions([{ memberId: 'b', holding: [] }, { memberId: 'a', holding: [] }], PARTITIONS, true))).toEqual({ a: PARTITIONS, b: [] });
  });
});
