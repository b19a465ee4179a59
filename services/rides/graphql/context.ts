/** The rides slice's per-operation context: DataLoaders over the drivers and rides projection, and the live feed. */
import DataLoader from 'dataloader';
import type { GatewayServices, ViewerContext } from '../../shared/graphql/index.ts';
import type { Driver, Ride } from '../../../generated/prisma/client.ts';
import type { PrismaClient } from '../../shared/db.ts';
import type { Location } from '../contract.ts';
import { EARTH_RADIUS_KM } from '../geo.ts';
import type { EventIndexReader, IndexedEvent } from '../../shared/event-index.ts';
import { RIDE_STREAM_TOPICS } from './history.ts';
import type { RidesLive } from './live.ts';

/**
 * A ride as resolvers see it: the row, its driver's position when the live feed already knows it, and its cursor
 * when it is the state as of a known event (subscriptions, `asOf`).
 */
export type RideModel = Ride & { driverLocation?: Location | null; cursor?: string };

export interface RidesContext {
  ridesById: DataLoader<string, Ride | null>;
  driversById: DataLoader<string, Driver | null>;
  latestEventByRideId: DataLoader<string, IndexedEvent | null>;
  /** The rides' histories in the runtime's event index. */
  events: EventIndexReader;
  live: RidesLive;
}

/** What the rides resolvers receive (the type codegen uses for them). */
export type Context = GatewayServices & ViewerContext & { rides: RidesContext };

export function createLoaders(prisma: PrismaClient, events: EventIndexReader): Omit<RidesContext, 'live'> {
  return {
    events,
    latestEventByRideId: new DataLoader(async (ids) => {
      const latest = await events.latest(ids, RIDE_STREAM_TOPICS);
      return ids.map((id) => latest.get(id) ?? null);
    }),
    ridesById: new DataLoader(async (ids) => {
      const byId = new Map((await prisma.ride.findMany({ where: { id: { in: [...ids] } } })).map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    driversById: new DataLoader(async (ids) => {
      const byId = new Map((await prisma.driver.findMany({ where: { id: { in: [...ids] } } })).map((d) => [d.id, d]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

/** The states in which a ride has a driver on the way or aboard. */
export const UNDER_WAY = new Set(['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS']);

export const locationOf = (driver: Pick<Driver, 'lat' | 'lng'> | null | undefined): Location | null =>
  driver && driver.lat !== null && driver.lng !== null ? { lat: driver.lat, lng: driver.lng } : null;

const KM_PER_DEGREE = (EARTH_RADIUS_KM * Math.PI) / 180;

/**
 * AVAILABLE drivers within `radiusKm` of `at`, nearest first (ties by id): a bounding box the (status, lat, lng)
 * index serves, then the exact haversine distance (the same formula as dispatch) to filter and order. Near a pole
 * or the antimeridian the box spans every longitude.
 */
export function driversNear(prisma: PrismaClient, at: Location, radiusKm: number, first: number): Promise<Driver[]> {
  const dLat = radiusKm / KM_PER_DEGREE;
  const angle = radiusKm / EARTH_RADIUS_KM;
  const cosLat = Math.cos((at.lat * Math.PI) / 180);
  const dLng = Math.sin(angle) < cosLat ? (Math.asin(Math.sin(angle) / cosLat) * 180) / Math.PI : 360;
  const everyLng = at.lat + dLat > 90 || at.lat - dLat < -90 || at.lng - dLng < -180 || at.lng + dLng > 180;
  return prisma.$queryRaw<Driver[]>`
    SELECT id, status, lat, lng, "updatedAt" FROM (
      SELECT id, status, lat, lng, updated_at AS "updatedAt",
             2 * ${EARTH_RADIUS_KM}::float8 * asin(least(1, sqrt(
               power(sin(radians(lat - ${at.lat}::float8) / 2), 2) +
               cos(radians(${at.lat}::float8)) * cos(radians(lat)) * power(sin(radians(lng - ${at.lng}::float8) / 2), 2)))) AS km
      FROM drivers
      WHERE status = 'AVAILABLE'
        AND lat BETWEEN ${at.lat - dLat}::float8 AND ${at.lat + dLat}::float8
        AND (${everyLng}::boolean OR lng BETWEEN ${at.lng - dLng}::float8 AND ${at.lng + dLng}::float8)
    ) near
    WHERE km <= ${radiusKm}::float8
    ORDER BY km, id
    LIMIT ${first}`;
}
