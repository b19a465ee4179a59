/**
 * Live rides and drivers for this gateway's subscribers, fed by its own consumer of `rides.events`,
 * `drivers.events` and `driver-locations`: two feeds of the live-feed engine (services/shared/graphql/live-feed.ts),
 * which keeps pushes in log order per ride and per driver and pushes a state change once the projection has applied
 * it (what a subscriber sees, a query sees), every one. A position is pushed straight from its event, to the driver's
 * subscribers and to those of the ride it is on, and a subscriber that has not yet taken the previous position gets
 * only the newest (latest wins, never reordered: one taken before the newest sent, arriving late, is dropped).
 */
import { createLiveFeed, cursorOfUpdate, type FeedPosition, type FeedUpdate, type GatewayServices } from '../../shared/graphql/index.ts';
import type { Driver } from '../../../generated/prisma/client.ts';
import { statesAfter, type EventIndexReader, type EventPosition } from '../../shared/event-index.ts';
import type { Logger } from '../../shared/log.ts';
import type { LogPosition, RawMessage } from '../../shared/messages.ts';
import { positionAt, ridesContract, TOPICS, type EventEnvelope, type Location, type RideState } from '../contract.ts';
import { locationOf, UNDER_WAY, type RideModel } from './context.ts';
import { RIDE_STREAM_TOPICS, rideStatesOf, rideStream } from './history.ts';

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

/** A ride's history is a handful of state changes: read whole. */
const MAX_HISTORY = 1_000;
const RECENT_DRIVERS = 50_000;
const RANK: Record<RideState, number> = { REQUESTED: 0, DRIVER_ASSIGNED: 1, DRIVER_ARRIVED: 2, IN_PROGRESS: 3, COMPLETED: 4, CANCELLED: 4 };
const REACHED: Partial<Record<EventEnvelope['type'], RideState>> = {
  DriverAssigned: 'DRIVER_ASSIGNED', DriverArrived: 'DRIVER_ARRIVED', RideStarted: 'IN_PROGRESS', RideCompleted: 'COMPLETED', RideCancelled: 'CANCELLED',
};

/** A driver's position as consumed: where, and when it was taken (ms). */
type Consumed = { location: Location; at: number };

/** A ride as pushed, with when its driver's position was taken (ms): an older one (already shown, or late) is not. */
type LiveRide = RideModel & { driverLocationAt?: number };
type Position = Extract<EventEnvelope, { type: 'DriverMoved' | 'DriverLocationReported' }>;

const isPosition = (event: EventEnvelope): event is Position => event.type === 'DriverMoved' || event.type === 'DriverLocationReported';
const takenAtOf = (event: Parameters<typeof positionAt>[0]) => Date.parse(positionAt(event)!);
/** When a row's position was taken (ms); a row projected before positions had a time: when it changed. */
const takenAt = (driver: Driver) => (driver.locationAt ?? driver.updatedAt).getTime();
const later = (a: Date, b: string) => (a.getTime() >= Date.parse(b) ? a : new Date(b));

/**
 * The ride after one more event: a state change it has not reached yet, or its driver's newer position while under
 * way. Null for an assignment: where the driver is is not in the event (the engine reads the ride at it).
 */
function foldRide(ride: LiveRide | null, update: FeedUpdate<EventEnvelope>): LiveRide | null {
  const { event } = update;
  if (!ride) return null;
  if (isPosition(event)) {
    const at = takenAtOf(event);
    // Checked again here: the ride may have ended, or have been read with a newer position, since it was offered.
    if (ride.driverId !== event.data.driverId || !UNDER_WAY.has(ride.state) || at < (ride.driverLocationAt ?? 0)) return ride;
    return { ...ride, driverLocation: event.data.location, driverLocationAt: at };
  }
  const state = REACHED[event.type];
  if (!state || RANK[state] <= RANK[ride.state]) return ride; // already included in what was read
  if (state === 'DRIVER_ASSIGNED') return null;
  const driverId = 'driverId' in event.data ? (event.data.driverId as string | null) : null;
  const next: LiveRide = { ...ride, state, driverId: driverId ?? ride.driverId, updatedAt: new Date(event.occurredAt), cursor: cursorOfUpdate(update) };
  if (!UNDER_WAY.has(state)) next.driverLocation = null;
  else if (event.type === 'DriverArrived') {
    // The arrival carries the position it was decided on, which another topic may deliver later.
    next.driverLocation = event.data.location;
    next.driverLocationAt = Math.max(ride.driverLocationAt ?? 0, takenAtOf(event));
  }
  return next;
}

/** The driver after one more event: its status, or a position newer than the one it holds. */
function foldDriver(driver: Driver | null, { event }: FeedUpdate<EventEnvelope>): Driver | null {
  if (!driver) return null;
  switch (event.type) {
    case 'DriverMoved':
    case 'DriverLocationReported': {
      const at = takenAtOf(event);
      if (at < takenAt(driver)) return driver;
      return { ...driver, ...event.data.location, locationAt: new Date(at), updatedAt: later(driver.updatedAt, event.occurredAt) };
    }
    case 'DriverWentOnline':
    case 'DriverWentOffline':
    case 'DriverStatusChanged': {
      const status = event.type === 'DriverStatusChanged' ? event.data.status : event.type === 'DriverWentOnline' ? 'AVAILABLE' : 'OFFLINE';
      return { ...driver, status, updatedAt: later(driver.updatedAt, event.occurredAt) };
    }
    default:
      return driver;
  }
}

/** A ride moves forward; within one state, only a newer position of its driver is news. */
function isNewerRide(next: LiveRide, last: LiveRide): boolean {
  const rank = RANK[next.state] - RANK[last.state];
  if (rank) return rank > 0;
  if (next.cursor !== last.cursor) return next.updatedAt > last.updatedAt; // a repeat of the state, in a history
  return (next.driverLocationAt ?? 0) > (last.driverLocationAt ?? 0);
}

export function createRidesLive(services: GatewayServices, events: EventIndexReader, log: Logger): RidesLive {
  const { prisma, watcher, projectorsOf } = services;
  // The newest position consumed per driver: a ride just assigned shows where its driver is even before the
  // position's own topic is projected (it is consumed beside the assignment, and projected separately). Read when
  // asked for: most positions are of drivers nobody watches, and decoding each was the feed's largest cost.
  const positions = new Map<string, () => Consumed | undefined>();

  const loadDriver = (driverId: string) => prisma.driver.findUnique({ where: { id: driverId } });

  /** Where the driver is: the newest of its projected row and the last position consumed. */
  async function whereIs(driverId: string): Promise<{ location: Location | null; at: number }> {
    const driver = await loadDriver(driverId);
    const row = { location: locationOf(driver), at: driver ? takenAt(driver) : 0 };
    const consumed = positions.get(driverId)?.();
    return consumed && (consumed.at >= row.at || !row.location) ? consumed : row;
  }

  /** Each state of the ride's history, folded from the event index: a state and its cursor come from one read. */
  const historyOf = async (rideId: string) => {
    const indexed = await events.history(rideStream(rideId), { limit: MAX_HISTORY });
    return { indexed, states: rideStatesOf(indexed) };
  };

  /** A state as pushed: under way, with where its driver is now (newer than anything in the ride's own history). */
  async function withDriver(ride: RideModel): Promise<LiveRide> {
    const driver = ride.driverId && UNDER_WAY.has(ride.state) ? await whereIs(ride.driverId) : { location: null, at: 0 };
    return { ...ride, driverLocation: driver.location, driverLocationAt: driver.at };
  }

  const options = (entity: string) => ({ watcher, projectorsOf, log, entity, logEnd: () => services.logEnd(RIDE_STREAM_TOPICS) });
  const rides = createLiveFeed<LiveRide, EventEnvelope>({
    async load(rideId, at) {
      const { states } = await historyOf(rideId);
      const cursor = at && cursorOfUpdate(at);
      const ride = (cursor && states.find((state) => state.cursor === cursor)) || states.at(-1);
      return ride ? withDriver(ride) : null;
    },
    fold: foldRide,
    conflates: isPosition,
    isNewer: isNewerRide,
    // Its driver's positions reach it while under way.
    relatedKey: (ride) => (ride.driverId && UNDER_WAY.has(ride.state) ? ride.driverId : undefined),
    async statesSince(rideId, after) {
      const { indexed, states } = await historyOf(rideId);
      const missed: LiveRide[] = statesAfter(indexed, states, after);
      // The last state carries where its driver is now; the earlier ones what their events knew.
      if (missed.length) missed[missed.length - 1] = await withDriver(missed.at(-1)!);
      return missed;
    },
  }, options('ride'));
  const drivers = createLiveFeed<Driver, EventEnvelope>(
    { load: loadDriver, fold: foldDriver, conflates: isPosition, isNewer: (next, last) => next !== last },
    options('driver'),
  );

  /**
   * A driver's position consumed, to be read when asked for: the last in the log. Should it be older by the driver's
   * own time than one before it (a late batch), `whereIs` still takes the projected row when that is newer.
   */
  function consumed(driverId: string, read: () => Consumed | undefined) {
    positions.delete(driverId);
    positions.set(driverId, read);
    if (positions.size > RECENT_DRIVERS) positions.delete(positions.keys().next().value!);
  }

  /** A position of the stream (keyed by driver): decoded only if its driver or a ride it drives is watched, or asked for. */
  function onPosition(topic: string, message: RawMessage, at: FeedPosition) {
    const driverId = message.key?.toString();
    if (!driverId) return;
    let event: Position | null | undefined; // undefined: not read yet; null: not a position (dead-lettered by the runtime)
    const read = () => {
      if (event === undefined) {
        try {
          const decoded = ridesContract.read(topic, message);
          event = decoded?.kind === 'event' && isPosition(decoded) && decoded.data.driverId === driverId ? decoded : null;
        } catch {
          event = null;
        }
      }
      return event ?? undefined;
    };
    consumed(driverId, () => {
      const position = read();
      return position && { location: position.data.location, at: takenAtOf(position) };
    });
    drivers.onMessage(driverId, at, read);
    rides.onRelatedEvent(driverId, at, read);
  }

  return {
    ride: (rideId, after) => rides.updates(rideId, after),
    driver: (driverId) => drivers.updates(driverId),
    onMessage(topic, message, position) {
      if (topic === TOPICS.driverLocations) return onPosition(topic, message, { ...position, logicalTopic: topic });
      let event: EventEnvelope | undefined;
      try {
        const read = ridesContract.read(topic, message);
        event = read?.kind === 'event' ? read : undefined;
      } catch {
        return; // the runtime dead-letters it; a subscriber has nothing to see
      }
      if (!event) return;
      const at = { ...position, logicalTopic: topic };
      switch (event.type) {
        case 'DriverMoved':
        case 'DriverLocationReported':
          return; // positions are on driver-locations only: onPosition reads them
        case 'DriverWentOnline':
        case 'DriverWentOffline':
        case 'DriverStatusChanged':
          return drivers.onMessage(event.data.driverId, at, () => event);
        case 'ClockTicked':
          return;
        default:
          return rides.onMessage(event.data.rideId, at, () => event);
      }
    },
    close() {
      rides.close();
      drivers.close();
    },
  };
}
