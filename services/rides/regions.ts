/**
 * The regions rides run in: each a box of latitude/longitude degrees with an id. A region is one aggregate of the
 * dispatcher, so regions are decided side by side, on whichever instance holds their partition. Pure: the
 * environment is read in ./config.ts.
 */
import type { Location } from './contract.ts';

export interface Region {
  /** Lower-case letters, digits and dashes: also in the state key and in GraphQL. */
  id: string;
  south: number;
  west: number;
  north: number;
  east: number;
}

/** Berlin (the city box the system knew before regions), Hamburg and Munich. */
export const DEFAULT_REGIONS: readonly Region[] = [
  { id: 'berlin', south: 52.4, west: 13.2, north: 52.62, east: 13.6 },
  { id: 'hamburg', south: 53.45, west: 9.8, north: 53.65, east: 10.2 },
  { id: 'munich', south: 48.06, west: 11.4, north: 48.25, east: 11.75 },
];

/** The documented format of RIDE_REGIONS, for error messages and the README. */
export const REGIONS_FORMAT = 'id=south,west,north,east;id=south,west,north,east (degrees, e.g. berlin=52.40,13.20,52.62,13.60)';

const ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

/**
 * Parses `id=south,west,north,east` entries separated by `;`. Refuses, saying what to fix: an empty list, a bad id
 * or number, a box not south < north and west < east, an id twice, two boxes that overlap (a point must belong to
 * one region).
 */
export function parseRegions(raw: string, name = 'RIDE_REGIONS'): Region[] {
  const refuse = (why: string) => new Error(`${name}: ${why}; the format is ${REGIONS_FORMAT}`);
  const entries = raw.split(';').map((e) => e.trim()).filter(Boolean);
  if (!entries.length) throw refuse('no region given');
  const regions = entries.map((entry): Region => {
    const match = /^([^=]+)=(.*)$/.exec(entry);
    if (!match) throw refuse(`"${entry}" has no "="`);
    const id = match[1].trim();
    if (!ID.test(id)) throw refuse(`region id "${id}" must be lower-case letters, digits and dashes (at most 40)`);
    const numbers = match[2].split(',').map((n) => n.trim());
    if (numbers.length !== 4 || numbers.some((n) => n === '' || !Number.isFinite(Number(n)))) throw refuse(`region ${id} needs four numbers, not "${match[2]}"`);
    const [south, west, north, east] = numbers.map(Number);
    if (![south, north].every((lat) => lat >= -90 && lat <= 90) || ![west, east].every((lng) => lng >= -180 && lng <= 180)) {
      throw refuse(`region ${id}: latitudes lie within ±90 and longitudes within ±180`);
    }
    if (!(south < north && west < east)) throw refuse(`region ${id}: south must be below north and west below east`);
    return { id, south, west, north, east };
  });
  regions.forEach((a, i) => regions.slice(0, i).forEach((b) => {
    if (a.id === b.id) throw refuse(`region ${a.id} is given twice`);
    if (a.south <= b.north && b.south <= a.north && a.west <= b.east && b.west <= a.east) throw refuse(`regions ${b.id} and ${a.id} overlap`);
  }));
  return regions;
}

export const contains = (region: Region, { lat, lng }: Location): boolean =>
  lat >= region.south && lat <= region.north && lng >= region.west && lng <= region.east;

/** The region whose box holds the point, if any: where a ride may be requested. */
export const regionContaining = (regions: readonly Region[], at: Location): Region | undefined => regions.find((r) => contains(r, at));

/** How far a point is outside a box, in degrees (0 inside): enough to find the nearest box. */
function degreesOutside(region: Region, { lat, lng }: Location): number {
  const dLat = Math.max(region.south - lat, 0, lat - region.north);
  const dLng = Math.max(region.west - lng, 0, lng - region.east);
  return Math.hypot(dLat, dLng * Math.cos((lat * Math.PI) / 180));
}

/**
 * The region a driver at this point belongs to: the one holding it, else the nearest (a driver just outside a box
 * still serves pickups near its edge). Ties go to the earlier region, so every process decides alike.
 */
export function regionOfDriver(regions: readonly Region[], at: Location): Region {
  return regionContaining(regions, at) ?? regions.reduce((best, r) => (degreesOutside(r, at) < degreesOutside(best, at) ? r : best));
}

/**
 * The key a region's state and messages are placed by: the region id and the smallest suffix that the default
 * partitioner sends to partition (index mod partitions). Placing state by the hash of the id alone could put every
 * region on one partition, and so on one instance; this spreads them in order, so two instances share three.
 * A region no longer configured (an old message's) keeps its bare id: its state stays whole, wherever it lands.
 */
export function regionKey(regions: readonly Region[], region: string, partitions: number, partitionOfKey: (key: string, partitions: number) => number): string {
  const index = regions.findIndex((r) => r.id === region);
  if (index < 0) return region;
  const want = index % partitions;
  for (let suffix = 0; ; suffix += 1) {
    const key = `${region}#${suffix}`;
    if (partitionOfKey(key, partitions) === want) return key;
  }
}
