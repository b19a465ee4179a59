import { afterEach, describe, expect, it } from 'vitest';
import { partitionOfKey } from '../shared/bus.ts';
import { regionStateKey, rideRegions } from './config.ts';
import { DEFAULT_REGIONS, parseRegions, regionContaining, regionKey, regionOfDriver } from './regions.ts';

afterEach(() => {
  delete process.env.RIDE_REGIONS;
});

describe('regions', () => {
  it('defaults to Berlin (the city box before regions), Hamburg and Munich', () => {
    expect(rideRegions().map((r) => r.id)).toEqual(['berlin', 'hamburg', 'munich']);
    expect(rideRegions()[0]).toEqual({ id: 'berlin', south: 52.4, west: 13.2, north: 52.62, east: 13.6 });
  });

  it('reads RIDE_REGIONS as id=south,west,north,east entries separated by ;', () => {
    process.env.RIDE_REGIONS = ' paris=48.80,2.25,48.92,2.42 ; lyon=45.70,4.77,45.80,4.90;';
    expect(rideRegions()).toEqual([
      { id: 'paris', south: 48.8, west: 2.25, north: 48.92, east: 2.42 },
      { id: 'lyon', south: 45.7, west: 4.77, north: 45.8, east: 4.9 },
    ]);
  });

  it('refuses a bad list, saying what is wrong and what the format is', () => {
    const cases: [string, string][] = [
      [';', 'no region given'],
      ['paris', '"paris" has no "="'],
      ['Paris=1,2,3,4', 'region id "Paris" must be lower-case'],
      ['paris=1,2,3', 'region paris needs four numbers'],
      ['paris=1,2,x,4', 'region paris needs four numbers'],
      ['paris=3,2,1,4', 'south must be below north'],
      ['paris=1,2,95,4', 'latitudes lie within ±90'],
      ['a=1,1,2,2;a=5,5,6,6', 'region a is given twice'],
      ['a=1,1,3,3;b=2,2,4,4', 'regions a and b overlap'],
    ];
    for (const [raw, why] of cases) {
      expect(() => parseRegions(raw), raw).toThrow(why);
      expect(() => parseRegions(raw), raw).toThrow('RIDE_REGIONS: ');
      expect(() => parseRegions(raw), raw).toThrow('the format is id=south,west,north,east');
    }
    process.env.RIDE_REGIONS = 'nonsense';
    expect(() => rideRegions()).toThrow('RIDE_REGIONS: "nonsense" has no "="');
  });

  it('finds the region of a pickup inside a box only, and of a driver the nearest box outside', () => {
    expect(regionContaining(DEFAULT_REGIONS, { lat: 53.55, lng: 10 })?.id).toBe('hamburg');
    expect(regionContaining(DEFAULT_REGIONS, { lat: 40, lng: -3 })).toBeUndefined();
    expect(regionOfDriver(DEFAULT_REGIONS, { lat: 48.1, lng: 11.5 }).id).toBe('munich');
    expect(regionOfDriver(DEFAULT_REGIONS, { lat: 52.3, lng: 13.4 }).id).toBe('berlin');
    expect(regionOfDriver(DEFAULT_REGIONS, { lat: 54, lng: 10 }).id).toBe('hamburg');
  });

  it('places regions on partitions in their order, so instances share them', () => {
    for (const partitions of [1, 2, 3, 6, 12]) {
      const placed = DEFAULT_REGIONS.map((r) => partitionOfKey(regionKey(DEFAULT_REGIONS, r.id, partitions, partitionOfKey), partitions));
      expect(placed).toEqual([0, 1, 2].map((i) => i % partitions));
    }
    expect(partitionOfKey(regionStateKey('hamburg'), 6)).toBe(1);
    expect(regionKey(DEFAULT_REGIONS, 'atlantis', 6, partitionOfKey)).toBe('atlantis'); // no longer configured: its bare id
  });
});
