/**
 * Who may do what in the rides slice: the one place its resolvers ask (README, Authentication). A driver acts as
 * itself and on the rides it is assigned; a rider requests, follows and cancels its own rides; admins do
 * everything, `driversNear` and the city map included. Another user's ride or driver reads as not found
 * (null, or NOT_FOUND where an unknown id is NOT_FOUND), so ids do not leak.
 */
import { forbidden, isAdmin, notFound, requireRole, type Role, type Viewer } from '../../shared/graphql/index.ts';

interface RideParties {
  riderId: string;
  driverId: string | null;
}

const DRIVERS = ['driver'] as const;
const RIDERS = ['rider'] as const;

/** Whether the viewer is a party to the ride in one of `as` roles: its rider, or its assigned driver. */
function partyTo(viewer: Viewer, ride: RideParties, as: readonly Role[]): boolean {
  return (as.includes('rider') && viewer.roles.includes('rider') && ride.riderId === viewer.sub)
    || (as.includes('driver') && viewer.roles.includes('driver') && ride.driverId === viewer.sub);
}

const noRide = (rideId: string) => notFound(`no ride with id "${rideId}"`);

export const ridesPolicy = {
  /** `goOnline`, `updateDriverLocation`, `goOffline`: a driver as itself. */
  actAsDriver(viewer: Viewer | undefined, driverId: string, what: string): Viewer {
    const user = requireRole(viewer, DRIVERS, what);
    if (!isAdmin(user) && driverId !== user.sub) throw forbidden(`${what}: a driver acts as itself only: set driverId to "${user.sub}"`);
    return user;
  },

  /**
   * `updateDriverLocations`: drivers and admins (FORBIDDEN for anyone else, whatever the ids); then each position on
   * its own, with `positionRefusal`.
   */
  sendPositions: (viewer: Viewer | undefined, what: string): Viewer => requireRole(viewer, DRIVERS, what),

  /** Why the viewer may not send this driver's position (a driver sends its own; an admin any driver's), or undefined. */
  positionRefusal(viewer: Viewer, driverId: string, what: string): string | undefined {
    return isAdmin(viewer) || driverId === viewer.sub ? undefined : `${what}: a driver sends its own positions only: set driverId to "${viewer.sub}"`;
  },

  /** `requestRide`: a rider for itself. */
  requestRide(viewer: Viewer | undefined, riderId: string): Viewer {
    const user = requireRole(viewer, RIDERS, 'requestRide');
    if (!isAdmin(user) && riderId !== user.sub) throw forbidden(`requestRide: a rider requests rides for itself only: set input.riderId to "${user.sub}"`);
    return user;
  },

  /**
   * `startRide`, `completeRide` (its driver), `cancelRide` (its rider or driver): the role first (FORBIDDEN, whatever
   * the id), then the ride, which must be the viewer's (NOT_FOUND otherwise, as for an unknown ride).
   */
  async actOnRide(viewer: Viewer | undefined, rideId: string, as: readonly Role[], what: string, load: (id: string) => Promise<RideParties | null>): Promise<Viewer> {
    const user = requireRole(viewer, as, what);
    if (isAdmin(user)) return user;
    const ride = await load(rideId);
    if (!ride || !partyTo(user, ride, as)) throw noRide(rideId);
    return user;
  },

  /** `ride`, `rideUpdated`: its rider, its assigned driver, admins. */
  readRides: (viewer: Viewer | undefined, what: string): Viewer => requireRole(viewer, [...RIDERS, ...DRIVERS], what),

  /** The ride if the viewer may see it, else null: the same answer as for an unknown id. */
  visibleRide<T extends RideParties>(viewer: Viewer, ride: T | null): T | null {
    return ride && (isAdmin(viewer) || partyTo(viewer, ride, ['rider', 'driver'])) ? ride : null;
  },

  /**
   * `rideUpdated` for a non-admin: the ride must exist and be its own when it subscribes (the events that follow
   * go to every subscriber of the ride alike). A driver assigned later subscribes once assigned.
   */
  async subscribeRide(viewer: Viewer, rideId: string, load: (id: string) => Promise<RideParties | null>): Promise<void> {
    if (isAdmin(viewer)) return;
    if (!ridesPolicy.visibleRide(viewer, await load(rideId))) throw noRide(rideId);
  },

  /** `driver`, `driverLocation`: a driver itself, admins. */
  readDriver: (viewer: Viewer | undefined, what: string): Viewer => requireRole(viewer, DRIVERS, what),

  /** Whether the viewer may see this driver: itself, or any as an admin. */
  mayReadDriver: (viewer: Viewer, driverId: string): boolean => isAdmin(viewer) || driverId === viewer.sub,

  /** `driverLocation` of another driver: NOT_FOUND, as an unknown driver would be for a query. */
  otherDriver: (driverId: string) => notFound(`no driver with id "${driverId}" of yours: a driver follows itself only`),

  /** `driversNear`, `cityUpdated`: admins (every driver's position, every open ride's pickup). */
  fleetWide: (viewer: Viewer | undefined, what: string): Viewer => requireRole(viewer, [], what),
};
