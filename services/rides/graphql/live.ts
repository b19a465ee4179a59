/**
 * Live rides and drivers for this gateway's subscribers, fed by its own consumer of `rides.events`,
 * `drivers.events` and `driver-locations`. A watched ride or driver is read from the projection once, then each of
 * its events is folded in and pushed, one chain per ride or driver so pushes keep log order. A state change is
 * pushed once the projection has applied it (what a subscriber sees, a query sees), and every one is pushed;
 * a position is pushed straight from its event, and a subscriber that has not yet taken the previous position
 * gets only the newest (latest wins, never reordered: one taken before the newest sent, arriving late, is dropped).
 */
import { createLiveQueue, type GatewayServices, type LiveQueue } from '../../shared/graphql/index.ts';
import type { Driver } from '../../../generated/prisma/client.ts';
import { comparePositions, cursorOf, type EventIndexReader, type EventPosition } from '../../shared/event-index.ts';
import type { Logger } from '../../shared/log.ts';
import type { LogPosition, RawMessage } from '../../shared/messages.ts';
import { positionAt, ridesContract, type EventEnvelope, type Location, type RideState } from '../contract.ts';
import { locationOf, UNDER_WAY, type RideModel } from './context.ts';
import { rideStatesOf, rideStream } from './history.ts';

export interface RidesLive {
  /**
   * The ride now (once it exists), then each state change and each position of its driver while under way. With
   * `after` (a position in its history), each state since that one instead of the current one, then the changes.
   */
  ride(rideId: string, after?: EventPosition): AsyncIterableIterator<RideModel>;
  /** The driver now (once it exists), then each change of its status or position. */
  driver(driverId: string): AsyncIterableIterator<Driver>;
  onMessage(topic: string, message: RawMessage, position: LogPosition): void;
  close(): void;
}

const PROJECTION_WAIT_MS = 30_000;
/** A ride's history is a handful of state changes: read whole. */
const MAX_HISTORY = 1_000;
const RECENT_KEYS = 50_000;
const RANK: Record<RideState, number> = { REQUESTED: 0, DRIVER_ASSIGNED: 1, DRIVER_ARRIVED: 2, IN_PROGRESS: 3, COMPLETED: 4, CANCELLED: 4 };
const REACHED: Partial<Record<EventEnvelope['type'], RideState>> = {
  DriverAssigned: 'DRIVER_ASSIGNED', DriverArrived: 'DRIVER_ARRIVED', RideStarted: 'IN_PROGRESS', RideCompleted: 'COMPLETED', RideCancelled: 'CANCELLED',
};

type Subscriber<T> = LiveQueue<T>;

/** Something watched: its subscribers, what they were sent last, and the time of the position it holds. */
interface Watched<T> {
  subscribers: Set<Subscriber<T>>;
  /** Subscribers catching up from the event index: live changes skip them meanwhile (the index has those by then). */
  resuming: Set<Subscriber<T>>;
  current: T | null;
  /** When the position in `current` was taken (ms): an older one (already in what was read, or late) is not sent. */
  locationAt: number;
}

export function createRidesLive(services: GatewayServices, events: EventIndexReader, log: Logger): RidesLive {
  const { prisma, watcher, projectorsOf } = services;
  const rides = new Map<string, Watched<RideModel>>();
  const drivers = new Map<string, Watched<Driver>>();
  const chains = new Map<string, Promise<void>>();
  // The newest log position seen per ride or driver, also for those nobody watches yet: a subscriber that
  // arrives after an event was consumed but before it was projected waits for it instead of missing it.
  const recent = new Map<string, Map<string, LogPosition>>();
  const closers = new Set<() => void>();
  // The newest position consumed per driver: a ride just assigned shows where its driver is even before the
  // position's own topic is projected (it is consumed beside the assignment, and projected separately).
  const positions = new Map<string, { location: Location; at: number }>();
  // The watched rides by the driver they name: a position finds its riders at once. Going through every watched ride
  // instead cost each position one check per ride (2.5 M a second for 5,000 positions/s and 500 riders).
  const ridesOfDriver = new Map<string, Set<string>>();
  const driverOfRide = new Map<string, string>();

  /** Files the watched ride under the driver it names now (called whenever its state is set, and when it goes). */
  function indexRide(rideId: string) {
    const driverId = rides.get(rideId)?.current?.driverId ?? undefined;
    const before = driverOfRide.get(rideId);
    if (before === driverId) return;
    if (before !== undefined) {
      const of = ridesOfDriver.get(before)!;
      of.delete(rideId);
      if (!of.size) ridesOfDriver.delete(before);
      driverOfRide.delete(rideId);
    }
    if (driverId !== undefined) {
      driverOfRide.set(rideId, driverId);
      const of = ridesOfDriver.get(driverId) ?? new Set<string>();
      ridesOfDriver.set(driverId, of.add(rideId));
    }
  }

  const reached = (position: LogPosition) => watcher.reached(projectorsOf(position.topic), position, PROJECTION_WAIT_MS);

  function remember(key: string, position: LogPosition) {
    const positions = recent.get(key) ?? new Map<string, LogPosition>();
    recent.delete(key);
    recent.set(key, positions.set(position.topic, position));
    if (recent.size > RECENT_KEYS) recent.delete(recent.keys().next().value!);
  }

  function enqueue(key: string, work: () => Promise<void>) {
    const next = (chains.get(key) ?? Promise.resolve())
      .then(work)
      .catch((error: Error) => log.warn(`could not push an update of ${key}: ${error.message}`));
    chains.set(key, next);
    void next.then(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  }

  const send = <T>(entry: Watched<T>, position: boolean) => {
    for (const s of entry.subscribers) if (!entry.resuming.has(s)) s.push(entry.current!, position);
  };

  async function loadDriver(driverId: string) {
    return prisma.driver.findUnique({ where: { id: driverId } });
  }

  /** When a row's position was taken (ms); a row projected before positions had a time: when it changed. */
  const takenAt = (driver: Driver | null) => (driver ? (driver.locationAt ?? driver.updatedAt).getTime() : 0);

  /** Where the driver is: the newest of its projected row and the last position consumed. */
  async function whereIs(driverId: string): Promise<{ location: Location | null; at: number }> {
    const driver = await loadDriver(driverId);
    const row = { location: locationOf(driver), at: takenAt(driver) };
    const consumed = positions.get(driverId);
    return consumed && (consumed.at >= row.at || !row.location) ? consumed : row;
  }

  /** Each state of the ride's history, folded from the event index: a state and its cursor come from one read. */
  const historyOf = async (rideId: string) => {
    const indexed = await events.history(rideStream(rideId), { limit: MAX_HISTORY });
    return { indexed, states: rideStatesOf(indexed) };
  };

  /** A state as pushed: under way, with where its driver is now (newer than anything in the ride's own history). */
  async function withDriver(ride: RideModel): Promise<{ ride: RideModel; locationAt: number }> {
    const driver = ride.driverId && UNDER_WAY.has(ride.state) ? await whereIs(ride.driverId) : { location: null, at: 0 };
    return { ride: { ...ride, driverLocation: driver.location }, locationAt: driver.at };
  }

  async function loadRide(rideId: string): Promise<{ ride: RideModel; locationAt: number } | null> {
    const ride = (await historyOf(rideId)).states.at(-1);
    return ride ? withDriver(ride) : null;
  }

  function watch<T>(
    map: Map<string, Watched<T>>, key: string, chain: string, load: (entry: Watched<T>) => Promise<void>,
    resume?: (push: (value: T) => void) => Promise<void>, gone?: () => void,
  ) {
    const entry = map.get(key) ?? { subscribers: new Set<Subscriber<T>>(), resuming: new Set<Subscriber<T>>(), current: null, locationAt: 0 };
    map.set(key, entry);
    const s = createLiveQueue<T>(() => {
      entry.subscribers.delete(s);
      entry.resuming.delete(s);
      closers.delete(s.close);
      if (!entry.subscribers.size && map.get(key) === entry) {
        map.delete(key);
        gone?.();
      }
    });
    entry.subscribers.add(s);
    closers.add(s.close);
    if (resume) {
      // Listening first, then reading the history since the cursor: a change that comes meanwhile is in the index by
      // the time its live push would reach this subscriber, which takes it from there on.
      entry.resuming.add(s);
      enqueue(chain, async () => {
        await Promise.all([...(recent.get(chain)?.values() ?? [])].map(reached));
        await resume((value) => s.push(value, false)).catch((error: Error) => {
          s.close();
          throw error;
        });
        entry.resuming.delete(s);
      });
      return s.iterator;
    }
    // Listening first, then reading, so no change falls between the two; the first value goes through the chain.
    enqueue(chain, async () => {
      await Promise.all([...(recent.get(chain)?.values() ?? [])].map(reached));
      if (!entry.current) await load(entry);
      if (entry.current) s.push(entry.current, false);
    });
    return s.iterator;
  }

  function onRideEvent(event: EventEnvelope, rideId: string, position: LogPosition, logicalTopic: string) {
    const chain = `ride:${rideId}`;
    remember(chain, position);
    const entry = rides.get(rideId);
    if (!entry) return;
    enqueue(chain, async () => {
      await reached(position);
      if (!entry.current) {
        const loaded = await loadRide(rideId);
        if (!loaded) return;
        Object.assign(entry, { current: loaded.ride, locationAt: loaded.locationAt });
        indexRide(rideId);
        return send(entry, false);
      }
      const state = REACHED[event.type];
      if (!state || RANK[state] <= RANK[entry.current.state]) return; // already included in what was read
      const driverId = 'driverId' in event.data ? (event.data.driverId as string | null) : null;
      const cursor = cursorOf({ aggregateId: rideId, occurredAt: new Date(event.occurredAt), topic: logicalTopic, partition: position.partition, offset: position.offset });
      const ride = { ...entry.current, state, driverId: driverId ?? entry.current.driverId, updatedAt: new Date(event.occurredAt), cursor };
      if (!UNDER_WAY.has(state)) ride.driverLocation = null;
      else if (event.type === 'DriverArrived') {
        // The arrival carries the position it was decided on, which another topic may deliver later.
        ride.driverLocation = event.data.location;
        entry.locationAt = Math.max(entry.locationAt, Date.parse(positionAt(event)!));
      } else if (state === 'DRIVER_ASSIGNED' && ride.driverId) {
        const driver = await whereIs(ride.driverId);
        ride.driverLocation = driver.location;
        entry.locationAt = driver.at;
      }
      entry.current = ride;
      indexRide(rideId);
      send(entry, false);
    });
  }

  function onDriverEvent(event: EventEnvelope, driverId: string, position: LogPosition) {
    const chain = `driver:${driverId}`;
    remember(chain, position);
    const entry = drivers.get(driverId);
    if (!entry) return;
    enqueue(chain, async () => {
      await reached(position);
      if (!entry.current) {
        entry.current = await loadDriver(driverId);
        entry.locationAt = takenAt(entry.current);
      } else if (event.type === 'DriverWentOnline' || event.type === 'DriverWentOffline' || event.type === 'DriverStatusChanged') {
        const status = event.type === 'DriverStatusChanged' ? event.data.status : event.type === 'DriverWentOnline' ? 'AVAILABLE' : 'OFFLINE';
        entry.current = { ...entry.current, status, updatedAt: later(entry.current.updatedAt, event.occurredAt) };
      }
      if (entry.current) send(entry, false);
    });
  }

  const later = (a: Date, b: string) => (a.getTime() >= Date.parse(b) ? a : new Date(b));

  /**
   * A position taken at `taken`, decided or reported at `occurredAt`: to the driver's own subscribers, and to those of
   * the ride it is on, without waiting for the projection. One taken before the newest they were sent is not sent.
   */
  function onDriverMoved(driverId: string, location: Location, taken: string, occurredAt: string, position: LogPosition) {
    const at = Date.parse(taken);
    const chain = `driver:${driverId}`;
    remember(chain, position);
    if (at >= (positions.get(driverId)?.at ?? 0)) {
      positions.delete(driverId);
      positions.set(driverId, { location, at });
      if (positions.size > RECENT_KEYS) positions.delete(positions.keys().next().value!);
    }
    const driver = drivers.get(driverId);
    if (driver) {
      enqueue(chain, async () => {
        if (!driver.current) {
          await reached(position);
          driver.current = await loadDriver(driverId);
          driver.locationAt = takenAt(driver.current);
        } else if (at >= driver.locationAt) {
          driver.current = { ...driver.current, ...location, updatedAt: later(driver.current.updatedAt, occurredAt) };
          driver.locationAt = at;
        } else return;
        if (driver.current) send(driver, true);
      });
    }
    for (const rideId of ridesOfDriver.get(driverId) ?? []) {
      const entry = rides.get(rideId);
      if (!entry || entry.current?.driverId !== driverId || !UNDER_WAY.has(entry.current.state)) continue;
      enqueue(`ride:${rideId}`, async () => {
        // Checked again in the chain: the ride may have ended, or have been read with a newer position, meanwhile.
        if (!entry.current || entry.current.driverId !== driverId || !UNDER_WAY.has(entry.current.state) || at < entry.locationAt) return;
        entry.current = { ...entry.current, driverLocation: location };
        entry.locationAt = at;
        send(entry, true);
      });
    }
  }

  return {
    ride: (rideId, after) => watch(rides, rideId, `ride:${rideId}`, async (entry) => {
      const loaded = await loadRide(rideId);
      if (loaded) Object.assign(entry, { current: loaded.ride, locationAt: loaded.locationAt });
      indexRide(rideId);
    }, after && (async (push) => {
      const { indexed, states } = await historyOf(rideId);
      const since = indexed.findIndex((event) => comparePositions(event, after) > 0);
      const missed = since < 0 ? [] : states.slice(since);
      // The last state carries where its driver is now; the earlier ones what their events knew.
      for (const [i, state] of missed.entries()) push(i === missed.length - 1 ? (await withDriver(state)).ride : state);
      const entry = rides.get(rideId);
      if (entry && !entry.current && missed.length) Object.assign(entry, await withDriver(missed.at(-1)!)); // live changes fold onto it
      indexRide(rideId);
    }), () => indexRide(rideId)),
    driver: (driverId) => watch(drivers, driverId, `driver:${driverId}`, async (entry) => {
      entry.current = await loadDriver(driverId);
      entry.locationAt = takenAt(entry.current);
    }),
    onMessage(topic, message, position) {
      let event;
      try {
        event = ridesContract.read(topic, message);
      } catch {
        return; // the runtime dead-letters it; a subscriber has nothing to see
      }
      if (!event || event.kind !== 'event') return;
      switch (event.type) {
        case 'DriverMoved':
        case 'DriverLocationReported':
          return onDriverMoved(event.data.driverId, event.data.location, positionAt(event)!, event.occurredAt, position);
        case 'DriverWentOnline':
        case 'DriverWentOffline':
        case 'DriverStatusChanged':
          return onDriverEvent(event, event.data.driverId, position);
        case 'ClockTicked':
          return;
        default:
          return onRideEvent(event, event.data.rideId, position, topic);
      }
    },
    close() {
      for (const close of [...closers]) close();
    },
  };
}
