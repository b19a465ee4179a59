/**
 * The city as the dispatcher knows it: every driver and every ride, one aggregate, so assignments are decided
 * against one consistent state. Each field is owned by one ordered stream, so a replay that interleaves topics
 * and partitions differently from the live run still ends in the same state: a driver's status and current
 * ride come from `drivers.events` (ordered per driver), its position from `driver-locations` (the newest by the time it
 * was taken, whatever order positions arrive in), a ride's state from
 * `rides.events` (ordered per ride), and waiting rides are ordered by request time, not by arrival.
 */
import { assertNever } from '../../shared/errors.ts';
import { positionAt, type DomainEvent, type DriverStatus, type EventData, type Location, type RideState } from '../contract.ts';
import { emptyMap, get, set, type PersistentMap } from '../../shared/persistent-map.ts';

export interface DriverRecord {
  status: DriverStatus;
  /** The ride it is on while ON_RIDE. */
  rideId: string | null;
  /** Its latest position (absent until the first one is known). */
  location?: Location;
  /** When that position was taken (ISO 8601): a position taken before it never replaces it. */
  locationAt?: string;
}

export interface RideRecord extends Omit<EventData['RideRequested'], 'rideId'> {
  state: RideState;
  driverId: string | null;
}

export interface Waiting {
  rideId: string;
  requestedAt: string;
}

export interface City {
  drivers: PersistentMap<DriverRecord>;
  rides: PersistentMap<RideRecord>;
  /** Rides still REQUESTED, oldest first (by request time, then id). */
  waiting: readonly Waiting[];
}

export const initialCity = (): City => ({ drivers: emptyMap(), rides: emptyMap(), waiting: [] });

const OFFLINE: DriverRecord = { status: 'OFFLINE', rideId: null };
const ACTIVE: readonly RideState[] = ['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS'];
/** Where cancelRide may come from: before the ride starts. */
export const CANCELLABLE: readonly RideState[] = ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED'];
/** Whether the ride is under way with a driver: what ties a driver to it. */
export const isActive = (state: RideState) => ACTIVE.includes(state);

function updateDriver(city: City, driverId: string, change: (driver: DriverRecord) => DriverRecord): City {
  return { ...city, drivers: set(city.drivers, driverId, change(get(city.drivers, driverId) ?? OFFLINE)) };
}

/** Moves a ride from `from` (any of them) to `to`; an event that does not apply (a repeat) changes nothing. */
function moveRide(city: City, rideId: string, from: readonly RideState[], change: Partial<RideRecord>): City {
  const ride = get(city.rides, rideId);
  if (!ride || !from.includes(ride.state)) return city;
  const next = { ...ride, ...change };
  const waiting = next.state === 'REQUESTED' ? city.waiting : city.waiting.filter((w) => w.rideId !== rideId);
  return { ...city, rides: set(city.rides, rideId, next), waiting };
}

/**
 * A position, last write wins by the time it was taken, so the same positions give the same state whatever order
 * they arrive in, and folding one twice changes nothing. A tie goes to the later in the log (a driver's positions
 * share its partition). A position with no time of its own (an event from before positions had one, decided on
 * without its envelope) is the newest.
 */
function moveDriver(city: City, driverId: string, location: Location, at: string | undefined): City {
  const driver = get(city.drivers, driverId);
  if (at !== undefined && driver?.locationAt !== undefined && Date.parse(at) < Date.parse(driver.locationAt)) return city;
  return updateDriver(city, driverId, (d) => ({ ...d, location, ...(at === undefined ? {} : { locationAt: at }) }));
}

const older = (a: Waiting, b: Waiting) => a.requestedAt < b.requestedAt || (a.requestedAt === b.requestedAt && a.rideId < b.rideId);

/** Folds an event; it may come in its envelope (`occurredAt`), as the runtime hands it over, or bare, as `decide` emits it. */
export function evolve(city: City, event: DomainEvent & { occurredAt?: string }): City {
  switch (event.type) {
    case 'DriverWentOnline':
      return updateDriver(city, event.data.driverId, (d) => ({ ...d, status: 'AVAILABLE', rideId: null }));
    case 'DriverWentOffline':
      return updateDriver(city, event.data.driverId, (d) => ({ ...d, status: 'OFFLINE', rideId: null }));
    case 'DriverStatusChanged':
      return updateDriver(city, event.data.driverId, (d) => ({ ...d, status: event.data.status, rideId: event.data.rideId }));
    case 'DriverMoved':
    case 'DriverLocationReported':
      return moveDriver(city, event.data.driverId, event.data.location, positionAt(event));
    case 'RideRequested': {
      const { rideId, ...details } = event.data;
      if (get(city.rides, rideId)) return city; // a repeated event
      const entry = { rideId, requestedAt: details.requestedAt };
      const at = city.waiting.findIndex((w) => older(entry, w));
      const waiting = at < 0 ? [...city.waiting, entry] : [...city.waiting.slice(0, at), entry, ...city.waiting.slice(at)];
      return { ...city, rides: set(city.rides, rideId, { ...details, state: 'REQUESTED', driverId: null }), waiting };
    }
    case 'DriverAssigned':
      return moveRide(city, event.data.rideId, ['REQUESTED'], { state: 'DRIVER_ASSIGNED', driverId: event.data.driverId });
    case 'DriverArrived':
      return moveRide(city, event.data.rideId, ['DRIVER_ASSIGNED'], { state: 'DRIVER_ARRIVED' });
    case 'RideStarted':
      return moveRide(city, event.data.rideId, ['DRIVER_ARRIVED'], { state: 'IN_PROGRESS' });
    case 'RideCompleted':
      return moveRide(city, event.data.rideId, ['IN_PROGRESS'], { state: 'COMPLETED' });
    case 'RideCancelled':
      return moveRide(city, event.data.rideId, CANCELLABLE, { state: 'CANCELLED' });
    case 'ClockTicked':
      return city;
    default:
      return assertNever(event);
  }
}

