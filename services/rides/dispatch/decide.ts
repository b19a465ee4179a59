/**
 * The dispatcher's decisions, against the whole city at once: a ride gets the nearest AVAILABLE driver within
 * 10 km of its pickup (ties by driver id) or waits, oldest first, until a driver comes online, moves into range
 * or frees up; a driver's position within 50 m of its ride's pickup is its arrival; the clock cancels rides that
 * waited too long. Each decision folds its own events as it goes, so a consequence (an assignment after a ride
 * ended) is decided on the state its cause left.
 */
import { idTaken, SystemError } from '../../shared/errors.ts';
import type { DomainEvent, Envelope, Location } from '../contract.ts';
import { distanceKm } from '../geo.ts';
import { entries, get } from '../../shared/persistent-map.ts';
import { CANCELLABLE, evolve, isActive, type City, type RideRecord } from './evolve.ts';

/** How far from the pickup a driver may be dispatched, in km. */
export const DISPATCH_RADIUS_KM = 10;
/** How close to the pickup an assigned driver counts as arrived, in km. */
export const ARRIVAL_RADIUS_KM = 0.05;

const failedPrecondition = (message: string, state: string) => new SystemError('FAILED_PRECONDITION', message, false, { state });

/** Events decided so far, and the city they leave. */
class Decision {
  readonly events: DomainEvent[] = [];
  constructor(public city: City) {}

  emit(event: DomainEvent): void {
    this.events.push(event);
    this.city = evolve(this.city, event);
  }

  /** Gives the ride its driver, who is on it from now on; arrived at once if already at the pickup. */
  assign(rideId: string, ride: RideRecord, driverId: string, where: Location): void {
    this.emit({ type: 'DriverAssigned', data: { rideId, driverId } });
    this.emit({ type: 'DriverStatusChanged', data: { driverId, status: 'ON_RIDE', rideId } });
    if (distanceKm(where, ride.pickup) <= ARRIVAL_RADIUS_KM) this.arrive(rideId, driverId, where);
  }

  /** The driver is at its ride's pickup, seen at the position it holds now (and that position's time). */
  arrive(rideId: string, driverId: string, location: Location): void {
    const at = get(this.city.drivers, driverId)?.locationAt;
    this.emit({ type: 'DriverArrived', data: { rideId, driverId, location, ...(at !== undefined && { at }) } });
  }

  /** The nearest AVAILABLE driver within range of the ride's pickup, ties by id; the ride waits without one. */
  dispatch(rideId: string): void {
    const ride = get(this.city.rides, rideId);
    if (!ride || ride.state !== 'REQUESTED') return;
    let best: { driverId: string; km: number; at: Location } | undefined;
    for (const [driverId, driver] of entries(this.city.drivers)) {
      if (driver.status !== 'AVAILABLE' || !driver.location) continue;
      const km = distanceKm(driver.location, ride.pickup);
      if (km > DISPATCH_RADIUS_KM) continue;
      if (!best || km < best.km || (km === best.km && driverId < best.driverId)) best = { driverId, km, at: driver.location };
    }
    if (best) this.assign(rideId, ride, best.driverId, best.at);
  }

  /** A driver just became available or moved: it takes the oldest waiting ride in its range. */
  offer(driverId: string): void {
    const driver = get(this.city.drivers, driverId);
    if (driver?.status !== 'AVAILABLE' || !driver.location) return;
    for (const { rideId } of this.city.waiting) {
      const ride = get(this.city.rides, rideId)!;
      if (distanceKm(driver.location, ride.pickup) <= DISPATCH_RADIUS_KM) return this.assign(rideId, ride, driverId, driver.location);
    }
  }

  /** The ride ended: its driver (still online) is available again, and may take a waiting ride. */
  release(driverId: string | null): void {
    if (driverId === null || get(this.city.drivers, driverId)?.status !== 'ON_RIDE') return;
    this.emit({ type: 'DriverStatusChanged', data: { driverId, status: 'AVAILABLE', rideId: null } });
    this.offer(driverId);
  }

  /**
   * A position sent through a command, taken at `at`: the driver's from now on unless it holds one taken later (last
   * write wins), and then what follows from it.
   */
  move(driverId: string, location: Location, at: string): void {
    if (isOlder(at, get(this.city.drivers, driverId)?.locationAt)) return;
    this.emit({ type: 'DriverMoved', data: { driverId, location, at } });
    this.moved(driverId, location);
  }

  /** The driver's position is now `location`: arrival at the pickup of its ride, or a waiting ride now in range. */
  moved(driverId: string, location: Location): void {
    const driver = get(this.city.drivers, driverId);
    if (!driver || driver.status === 'OFFLINE') return;
    const ride = driver.rideId === null ? undefined : get(this.city.rides, driver.rideId);
    if (ride?.state === 'DRIVER_ASSIGNED' && distanceKm(location, ride.pickup) <= ARRIVAL_RADIUS_KM) this.arrive(driver.rideId!, driverId, location);
    this.offer(driverId);
  }
}

/** Whether a position taken at `at` is older than one taken at `than` (ISO 8601 times; none is never older). */
const isOlder = (at: string, than: string | undefined) => than !== undefined && Date.parse(at) < Date.parse(than);

const sameTime = (a: string | undefined, b: string) => a !== undefined && Date.parse(a) === Date.parse(b);
const samePlace = (a: Location | undefined, b: Location) => a !== undefined && a.lat === b.lat && a.lng === b.lng;

function rideOf(city: City, rideId: string): RideRecord {
  const ride = get(city.rides, rideId);
  if (!ride) throw new SystemError('NOT_FOUND', `no ride with id "${rideId}": request it first`);
  return ride;
}

/**
 * A ride as its actor may act on it: a driver's own assignment (and, to cancel, a rider's own ride); an admin
 * any. Anyone else's reads as unknown, as the gateway's policy answers from the projection first: this is the
 * dispatcher's own word, from its state. Commands without an actor (tools on the bus, older ones) are not judged.
 */
function rideFor(input: Envelope, city: City, rideId: string): RideRecord {
  const ride = rideOf(city, rideId);
  const { actor } = input;
  if (!actor || actor.roles.includes('admin')) return ride;
  const driver = actor.roles.includes('driver') && ride.driverId === actor.sub;
  const rider = input.type === 'CancelRide' && actor.roles.includes('rider') && ride.riderId === actor.sub;
  if (!driver && !rider) throw new SystemError('NOT_FOUND', `no ride with id "${rideId}"`);
  return ride;
}

const sameRequest = (ride: RideRecord, request: Extract<Envelope, { type: 'RequestRide' }>['data']) =>
  ride.riderId === request.riderId &&
  JSON.stringify([ride.pickup, ride.dropoff]) === JSON.stringify([request.pickup, request.dropoff]);

export function decide(input: Envelope, city: City, _now: Date): DomainEvent[] {
  const decision = new Decision(city);
  switch (input.type) {
    case 'GoOnline': {
      const { driverId, location } = input.data;
      const driver = get(city.drivers, driverId);
      if (driver && driver.status !== 'OFFLINE') {
        // Already online: going online again is only a position.
        if (JSON.stringify(driver.location) !== JSON.stringify(location)) decision.move(driverId, location, input.occurredAt);
        break;
      }
      decision.emit({ type: 'DriverWentOnline', data: { driverId } });
      decision.move(driverId, location, input.occurredAt);
      // Also when it holds a position taken after this one (which it keeps): online, it may take a waiting ride.
      decision.offer(driverId);
      break;
    }
    case 'UpdateDriverLocation': {
      const { driverId, location } = input.data;
      const status = get(city.drivers, driverId)?.status ?? 'OFFLINE';
      if (status === 'OFFLINE') throw failedPrecondition(`driver ${driverId} is offline: call goOnline before sending locations`, status);
      // Taken when the gateway took it.
      decision.move(driverId, location, input.occurredAt);
      break;
    }
    case 'DriverLocationReported': {
      // A fact, not a request: nobody waits for an answer, so nothing is refused. The runtime folded it into the city
      // before deciding (it is on a state topic); folding it again here changes nothing and keeps decide whole alone.
      const { driverId, location, at } = input.data;
      decision.city = evolve(city, input);
      const driver = get(decision.city.drivers, driverId)!;
      if (!sameTime(driver.locationAt, at) || !samePlace(driver.location, location)) {
        // Older than the position held (it arrived late): said again after it, so that compaction, which keeps a
        // driver's last message, keeps the newest position rather than this one.
        if (isOlder(at, driver.locationAt)) decision.emit({ type: 'DriverMoved', data: { driverId, location: driver.location!, at: driver.locationAt! } });
        break;
      }
      // An offline driver's position (it went offline after the gateway let the position through) decides nothing.
      decision.moved(driverId, location);
      break;
    }
    case 'GoOffline': {
      const { driverId } = input.data;
      const driver = get(city.drivers, driverId);
      if (!driver) throw new SystemError('NOT_FOUND', `no driver with id "${driverId}": a driver exists once it went online`);
      if (driver.status === 'ON_RIDE') {
        throw failedPrecondition(`driver ${driverId} is on ride ${driver.rideId}: complete or cancel it before going offline`, driver.status);
      }
      if (driver.status === 'AVAILABLE') decision.emit({ type: 'DriverWentOffline', data: { driverId } });
      break;
    }
    case 'RequestRide': {
      const { rideId } = input.data;
      const existing = get(city.rides, rideId);
      if (existing) {
        // The client-chosen id makes requesting idempotent; reusing it for another trip is a mistake (one answer
        // whoever holds the id: README, Client-chosen ids).
        if (!sameRequest(existing, input.data)) throw idTaken('RIDE_ID_CONFLICT', 'ride', rideId);
        break;
      }
      decision.emit({ type: 'RideRequested', data: input.data });
      decision.dispatch(rideId);
      break;
    }
    case 'StartRide': {
      const { rideId } = input.data;
      const ride = rideFor(input, city, rideId);
      if (ride.state !== 'DRIVER_ARRIVED') throw failedPrecondition(`ride ${rideId} is ${ride.state}: a ride starts once its driver has arrived`, ride.state);
      decision.emit({ type: 'RideStarted', data: { rideId, driverId: ride.driverId! } });
      break;
    }
    case 'CompleteRide': {
      const { rideId } = input.data;
      const ride = rideFor(input, city, rideId);
      if (ride.state !== 'IN_PROGRESS') throw failedPrecondition(`ride ${rideId} is ${ride.state}: only a ride IN_PROGRESS can be completed`, ride.state);
      decision.emit({ type: 'RideCompleted', data: { rideId, driverId: ride.driverId! } });
      decision.release(ride.driverId);
      break;
    }
    case 'CancelRide': {
      const { rideId } = input.data;
      const ride = rideFor(input, city, rideId);
      if (!CANCELLABLE.includes(ride.state)) {
        throw failedPrecondition(`ride ${rideId} is ${ride.state}: only a ride not yet started can be cancelled`, ride.state);
      }
      decision.emit({ type: 'RideCancelled', data: { rideId, driverId: ride.driverId, reason: 'rider' } });
      decision.release(isActive(ride.state) ? ride.driverId : null);
      break;
    }
    case 'ClockTicked': {
      // Time is this input's: rides that waited until their expiry are cancelled.
      const now = input.data.now;
      for (const { rideId } of city.waiting) {
        const ride = get(city.rides, rideId)!;
        if (new Date(ride.expiresAt).getTime() <= new Date(now).getTime()) {
          decision.emit({ type: 'RideCancelled', data: { rideId, driverId: null, reason: 'timeout' } });
        }
      }
      break;
    }
    default:
      // The dispatcher's own events on its inputs (DriverMoved on driver-locations) decide nothing more.
      break;
  }
  return decision.events;
}
