/**
 * The rides map's pure parts, shared by the page (./map.ts), the simulator (scripts/simulate-rides.ts), the bench
 * and their tests: the city box, great-circle distance, the GraphQL operations, and how the map's state follows
 * `cityUpdated` (services/rides/graphql/city.graphql: the one addition to the rides slice the map needs).
 */

/** A box of latitude/longitude degrees: south-west and north-east corners. */
export interface Box {
  south: number;
  west: number;
  north: number;
  east: number;
}

export interface LatLng {
  lat: number;
  lng: number;
}

/** The first of the default regions (the city box from before regions): what the map shows until it knows the regions. */
export const BERLIN: Box = { south: 52.4, west: 13.2, north: 52.62, east: 13.6 };

/** A region rides run in, as the `regions` query answers. */
export interface RegionView {
  id: string;
  box: Box;
}

export const REGIONS = `query Regions { regions { id box { south west north east } } }`;

export const centreOf = (box: Box): LatLng => ({ lat: (box.south + box.north) / 2, lng: (box.west + box.east) / 2 });

const EARTH_RADIUS_KM = 6371.0088;
const radians = (degrees: number) => (degrees * Math.PI) / 180;

/** Great-circle (haversine) distance in km, as the dispatcher measures it. */
export function distanceKm(a: LatLng, b: LatLng): number {
  const dLat = radians(b.lat - a.lat);
  const dLng = radians(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(radians(a.lat)) * Math.cos(radians(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** `from` moved `km` toward `to` (straight in degrees: good enough inside a city), or `to` itself when closer. */
export function stepToward(from: LatLng, to: LatLng, km: number): LatLng {
  const left = distanceKm(from, to);
  if (left <= km) return { ...to };
  const f = km / left;
  return { lat: from.lat + (to.lat - from.lat) * f, lng: from.lng + (to.lng - from.lng) * f };
}

/** A uniformly random point in the box; `random` is injectable so tests and runs can be repeated. */
export function randomIn(box: Box, random: () => number = Math.random): LatLng {
  return { lat: box.south + (box.north - box.south) * random(), lng: box.west + (box.east - box.west) * random() };
}

/** A random point between `minKm` and `maxKm` from `origin`, kept inside the box. */
export function randomNear(origin: LatLng, minKm: number, maxKm: number, box: Box, random: () => number = Math.random): LatLng {
  const km = minKm + (maxKm - minKm) * random();
  const angle = 2 * Math.PI * random();
  const lat = origin.lat + (km / 111.32) * Math.cos(angle);
  const lng = origin.lng + (km / (111.32 * Math.cos(radians(origin.lat)))) * Math.sin(angle);
  return { lat: clamp(lat, box.south, box.north), lng: clamp(lng, box.west, box.east) };
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** A box point in an SVG of `width` × `height` (north up; longitude scaled by the latitude so the city keeps its shape). */
export function project(point: LatLng, box: Box, width: number, height: number): { x: number; y: number } {
  return {
    x: ((point.lng - box.west) / (box.east - box.west)) * width,
    y: ((box.north - point.lat) / (box.north - box.south)) * height,
  };
}

/** The SVG's aspect for a box: east-west degrees are shorter than north-south ones by cos(latitude). */
export function aspectOf(box: Box): number {
  return ((box.east - box.west) * Math.cos(radians(centreOf(box).lat))) / (box.north - box.south);
}

// ---- The API as the map and the simulator use it (the rides slice's names, issue 8) ----

export type DriverStatus = 'OFFLINE' | 'AVAILABLE' | 'ON_RIDE';
export type RideState = 'REQUESTED' | 'DRIVER_ASSIGNED' | 'DRIVER_ARRIVED' | 'IN_PROGRESS' | 'COMPLETED' | 'CANCELLED';

export interface DriverView {
  id: string;
  status: DriverStatus;
  location: LatLng | null;
  updatedAt: string;
}

export interface RideView {
  id: string;
  riderId: string;
  driverId: string | null;
  state: RideState;
  pickup: LatLng;
  dropoff: LatLng;
  driverLocation: LatLng | null;
  requestedAt: string;
  updatedAt: string;
}

export const DRIVER_FIELDS = 'id status location { lat lng } updatedAt';
export const RIDE_FIELDS = 'id riderId driverId state pickup { lat lng } dropoff { lat lng } driverLocation { lat lng } requestedAt updatedAt';

/** The map's one subscription: every driver and open ride in the box, then what changes. */
export const CITY_UPDATED = `subscription CityUpdated($box: BoxInput!) {
  cityUpdated(box: $box) { drivers { ${DRIVER_FIELDS} } rides { ${RIDE_FIELDS} } }
}`;

export interface CityUpdate {
  drivers: DriverView[];
  rides: RideView[];
}

/** Ride states that end a ride: the map stops drawing it. */
export const ENDED: ReadonlySet<RideState> = new Set(['COMPLETED', 'CANCELLED']);

/** What the map draws: drivers and open rides by id. */
export interface CityState {
  drivers: ReadonlyMap<string, DriverView>;
  rides: ReadonlyMap<string, RideView>;
}

export const EMPTY_CITY: CityState = { drivers: new Map(), rides: new Map() };

/**
 * The map's state after an update: the newer version of each driver and ride wins (by `updatedAt`, so an update
 * that arrives late never moves a driver back); offline drivers, drivers without a position, drivers outside the
 * box and ended rides are dropped.
 */
export function applyCityUpdate(state: CityState, update: CityUpdate, box: Box): CityState {
  const drivers = new Map(state.drivers);
  for (const driver of update.drivers) {
    const known = drivers.get(driver.id);
    if (known && Date.parse(known.updatedAt) > Date.parse(driver.updatedAt)) continue;
    if (driver.status === 'OFFLINE' || !driver.location || !inside(driver.location, box)) drivers.delete(driver.id);
    else drivers.set(driver.id, driver);
  }
  const rides = new Map(state.rides);
  for (const ride of update.rides) {
    const known = rides.get(ride.id);
    if (known && Date.parse(known.updatedAt) > Date.parse(ride.updatedAt)) continue;
    if (ENDED.has(ride.state)) rides.delete(ride.id);
    else rides.set(ride.id, ride);
  }
  return { drivers, rides };
}

export const inside = (point: LatLng, box: Box) =>
  point.lat >= box.south && point.lat <= box.north && point.lng >= box.west && point.lng <= box.east;
