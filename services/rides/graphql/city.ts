/**
 * `cityUpdated(box)` (./city.graphql): a whole city for a map, on one subscription. Fed by the gateway's own
 * consumer of the rides topics, like ./live.ts, on the coalesced-view engine: events only note drivers and rides as
 * changed; every FLUSH_MS the changed rows are read once, projected, and each map is sent those in its box. So a
 * thousand positions a second cost one read of the changed drivers per flush, whatever the number of maps, and a
 * map shows what a query would.
 */
import { createCoalescedView, type GatewayServices } from '../../shared/graphql/index.ts';
import type { Driver } from '../../../generated/prisma/client.ts';
import { SystemError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { LogPosition, RawMessage } from '../../shared/messages.ts';
import { ridesContract } from '../contract.ts';
import { locationOf, UNDER_WAY, type RideModel } from './context.ts';

export interface Box {
  south: number;
  west: number;
  north: number;
  east: number;
}

export interface CityUpdate {
  drivers: Driver[];
  rides: RideModel[];
}

export interface CityLive {
  /** Every online driver and open ride in the box now, then what changes in it. */
  city(box: Box): AsyncIterableIterator<CityUpdate>;
  onMessage(topic: string, message: RawMessage, position: LogPosition): void;
  close(): void;
}

const FLUSH_MS = 250;
const ENDED = new Set(['COMPLETED', 'CANCELLED']);

interface Follower {
  box: Box;
  /** Ids sent as present: one that leaves the box, goes offline or ends is sent once more, then forgotten. */
  drivers: Set<string>;
  rides: Set<string>;
  /** The update not yet taken by the client: later changes merge into it (latest wins). */
  queued?: { drivers: Map<string, Driver>; rides: Map<string, RideModel> };
  wake?: () => void;
  done: boolean;
}

/** What an event changed, as the coalesced view keeps it. */
type Changed = `driver:${string}` | `ride:${string}`;

const inBox = (box: Box, lat: number | null, lng: number | null) =>
  lat !== null && lng !== null && lat >= box.south && lat <= box.north && lng >= box.west && lng <= box.east;

export function checkBox(box: Box): Box {
  if (!(box.south < box.north && box.west < box.east)) {
    throw new SystemError('BAD_USER_INPUT', 'box: south must be below north and west below east');
  }
  return box;
}

export function createCityLive(services: GatewayServices, log: Logger): CityLive {
  const { prisma, watcher, projectorsOf } = services;
  const maps = new Set<Follower>();

  function push(map: Follower, drivers: Driver[], rides: RideModel[]) {
    if (!drivers.length && !rides.length) return;
    map.queued ??= { drivers: new Map(), rides: new Map() };
    for (const d of drivers) map.queued.drivers.set(d.id, d);
    for (const r of rides) map.queued.rides.set(r.id, r);
    map.wake?.();
  }

  /** Rides with their driver's position, read now (never from a per-operation cache: a map lives for hours). */
  async function withDriverLocations(rides: RideModel[], known: Map<string, Driver>): Promise<RideModel[]> {
    const missing = [...new Set(rides.filter((r) => r.driverId && UNDER_WAY.has(r.state) && !known.has(r.driverId)).map((r) => r.driverId!))];
    if (missing.length) for (const d of await prisma.driver.findMany({ where: { id: { in: missing } } })) known.set(d.id, d);
    return rides.map((r) => ({ ...r, driverLocation: r.driverId && UNDER_WAY.has(r.state) ? locationOf(known.get(r.driverId)) : null }));
  }

  const view = createCoalescedView<Changed>({
    watcher, projectorsOf, log, what: 'the city maps', delayMs: FLUSH_MS,
    async refresh(changed) {
      const driverIds = [...changed].filter((key) => key.startsWith('driver:')).map((key) => key.slice('driver:'.length));
      const rideIds = [...changed].filter((key) => key.startsWith('ride:')).map((key) => key.slice('ride:'.length));
      const drivers = driverIds.length ? await prisma.driver.findMany({ where: { id: { in: driverIds } } }) : [];
      const byId = new Map(drivers.map((d) => [d.id, d]));
      const rides = await withDriverLocations(rideIds.length ? await prisma.ride.findMany({ where: { id: { in: rideIds } } }) : [], byId);
      for (const map of maps) {
        const present = (d: Driver) => d.status !== 'OFFLINE' && inBox(map.box, d.lat, d.lng);
        const open = (r: RideModel) => !ENDED.has(r.state) && inBox(map.box, r.pickupLat, r.pickupLng);
        const sendDrivers = drivers.filter((d) => present(d) || map.drivers.has(d.id));
        const sendRides = rides.filter((r) => open(r) || map.rides.has(r.id));
        for (const d of sendDrivers) (present(d) ? map.drivers.add(d.id) : map.drivers.delete(d.id));
        for (const r of sendRides) (open(r) ? map.rides.add(r.id) : map.rides.delete(r.id));
        push(map, sendDrivers, sendRides);
      }
    },
  });

  return {
    city(box) {
      const map: Follower = { box: checkBox(box), drivers: new Set(), rides: new Set(), done: false };
      // Listening before reading: a change between the two comes after the snapshot (the client keeps the newer).
      maps.add(map);
      const snapshot = (async () => {
        const where = { lat: { gte: box.south, lte: box.north }, lng: { gte: box.west, lte: box.east } };
        const drivers = await prisma.driver.findMany({ where: { status: { not: 'OFFLINE' }, ...where } });
        const open = await prisma.ride.findMany({
          where: { state: { notIn: ['COMPLETED', 'CANCELLED'] }, pickupLat: where.lat, pickupLng: where.lng },
        });
        const rides = await withDriverLocations(open, new Map(drivers.map((d) => [d.id, d])));
        drivers.forEach((d) => map.drivers.add(d.id));
        rides.forEach((r) => map.rides.add(r.id));
        // Sent first, even when empty: the client knows the map is complete.
        map.queued = { drivers: new Map(drivers.map((d) => [d.id, d])), rides: new Map(rides.map((r) => [r.id, r])) };
        map.wake?.();
      })();
      const finish = () => {
        map.done = true;
        maps.delete(map);
        map.wake?.();
      };
      const iterator: AsyncIterableIterator<CityUpdate> = {
        async next() {
          await snapshot;
          while (!map.queued && !map.done) await new Promise<void>((resolve) => (map.wake = resolve));
          if (map.done) return { value: undefined, done: true };
          const { drivers, rides } = map.queued!;
          map.queued = undefined;
          return { value: { drivers: [...drivers.values()], rides: [...rides.values()] }, done: false };
        },
        async return() {
          finish();
          return { value: undefined, done: true };
        },
        [Symbol.asyncIterator]: () => iterator,
      };
      return iterator;
    },
    onMessage(topic, message, position) {
      if (!maps.size) return; // nothing to follow: nothing to read
      let event;
      try {
        event = ridesContract.read(topic, message);
      } catch {
        return;
      }
      if (!event || event.kind !== 'event' || event.type === 'ClockTicked') return;
      const changed: Changed[] = [];
      if ('rideId' in event.data) changed.push(`ride:${event.data.rideId as string}`);
      if ('driverId' in event.data && event.data.driverId) changed.push(`driver:${event.data.driverId as string}`);
      view.changed(position, ...changed);
    },
    close() {
      view.close();
      for (const map of [...maps]) {
        map.done = true;
        map.wake?.();
      }
      maps.clear();
    },
  };
}
