/**
 * The rides resolvers, typed from schema.graphql by codegen. Mutations only send commands (the dispatcher
 * decides, with read-your-writes before answering), but for the stream of positions of `updateDriverLocations`,
 * written as facts without waiting for anyone; queries read the drivers and rides projection; subscriptions follow
 * the live feed.
 */
import { randomUUID } from 'node:crypto';
import { actorOf } from '../../shared/graphql/index.ts';
import { rideRequestTimeoutMs } from '../config.ts';
import { SystemError } from '../../shared/errors.ts';
import { driverLocationReported, ridesContract, type Command } from '../contract.ts';
import { historyPage, positionOf } from '../../shared/event-index.ts';
import { driversNear, locationOf, UNDER_WAY, type Context } from './context.ts';
import { rideStatesOf, rideStream } from './history.ts';
import type { LocationRejection, Resolvers } from './generated.ts';
import { ridesPolicy as policy } from './policy.ts';
import { driverRegion, pickupRegion, rideRegion } from './regions.ts';

const PAGE_DEFAULT = 10;
const VISIBLE_POLL_MS = 25;

function checkId(name: string, id: string): string {
  if (!id) throw new SystemError('BAD_USER_INPUT', `${name} must not be empty`);
  return id;
}

/** How far ahead of the gateway's clock a driver's clock may run: a position taken later is refused. */
const POSITION_MAX_AHEAD_MS = 60_000;
/** How old a position may be: an older one is no position of a driver now. */
const POSITION_MAX_AGE_MS = 24 * 3_600_000;

/**
 * The time a position was taken, within its window around `now` (BAD_USER_INPUT naming the field otherwise); one
 * that names no moment never gets here (gateway/input-limits.ts).
 */
function checkPositionTime(field: string, at: Date, now: number): Date {
  const refuse = (limit: string, message: string) => new SystemError('BAD_USER_INPUT', message, false, { field, limit });
  const time = at.getTime();
  if (time > now + POSITION_MAX_AHEAD_MS) {
    throw refuse('max', `${field} (${at.toISOString()}) is more than ${POSITION_MAX_AHEAD_MS / 1000} s ahead of the gateway's clock: set the device's clock right`);
  }
  if (time < now - POSITION_MAX_AGE_MS) throw refuse('min', `${field} (${at.toISOString()}) is more than ${POSITION_MAX_AGE_MS / 3_600_000} h old: send current positions only`);
  return at;
}

/** Sends the command, as the viewer, and waits until its events are projected (or throws its rejection). */
const execute = ({ commands, commandTimeoutMs, viewer }: Context, command: Command, options?: { visible?: boolean }) =>
  commands.execute(ridesContract.outgoing(ridesContract.command(command, { actor: actorOf(viewer) })), commandTimeoutMs, options);

/** A ride's rider and driver, read for a policy check. */
const partiesOf = (context: Context) => (rideId: string) => context.rides.ridesById.load(rideId);

async function driverAfter(context: Context, driverId: string) {
  const driver = await context.prisma.driver.findUnique({ where: { id: driverId } });
  if (!driver) throw new SystemError('NOT_FOUND', `no driver with id "${driverId}"`);
  return driver;
}

/**
 * The ride once visible. Only a repeated request whose first one is not projected yet can miss it: it then
 * appears within the command deadline.
 */
async function rideAfter(context: Context, rideId: string, deadline = Date.now()) {
  for (;;) {
    const ride = await context.prisma.ride.findUnique({ where: { id: rideId } });
    if (ride) return ride;
    if (Date.now() >= deadline) throw new SystemError('TIMEOUT', `ride ${rideId} was accepted but is not visible yet: query it later`, true);
    await new Promise((r) => setTimeout(r, VISIBLE_POLL_MS));
  }
}

export const resolvers: Resolvers = {
  Query: {
    async ride(_, { id, asOf }, { viewer, rides }) {
      const user = policy.readRides(viewer, 'ride');
      if (!asOf) return policy.visibleRide(user, await rides.ridesById.load(id));
      // As it was then: the last of the states its history went through by that moment.
      return policy.visibleRide(user, rideStatesOf(await rides.events.asOf(rideStream(id), asOf)).at(-1) ?? null);
    },
    driver(_, { id }, { viewer, rides }) {
      return policy.mayReadDriver(policy.readDriver(viewer, 'driver'), id) ? rides.driversById.load(id) : null;
    },
    // radiusKm and first are bounded by @limit in schema.graphql.
    driversNear(_, { location, radiusKm, first }, { viewer, prisma }) {
      policy.fleetWide(viewer, 'driversNear');
      return driversNear(prisma, location, radiusKm, first ?? PAGE_DEFAULT);
    },
  },

  Mutation: {
    async goOnline(_, { driverId, location }, context) {
      policy.actAsDriver(context.viewer, driverId, 'goOnline');
      const region = driverRegion(await context.rides.driversById.load(checkId('driverId', driverId)), location);
      await execute(context, { type: 'GoOnline', data: { driverId, location, region } });
      return driverAfter(context, driverId);
    },
    async updateDriverLocation(_, { driverId, location }, context) {
      policy.actAsDriver(context.viewer, driverId, 'updateDriverLocation');
      // Positions are the high-rate stream: answered once the dispatcher accepted it (an offline driver is still
      // refused), not after the projection, and with the position just sent rather than a read of it.
      const known = await context.rides.driversById.load(checkId('driverId', driverId));
      await execute(context, { type: 'UpdateDriverLocation', data: { driverId, location, region: driverRegion(known, location) } }, { visible: false });
      const driver = known ?? (await driverAfter(context, driverId));
      return { ...driver, lat: location.lat, lng: location.lng, updatedAt: new Date() };
    },
    async updateDriverLocations(_, { locations }, context) {
      const what = 'updateDriverLocations';
      const viewer = policy.sendPositions(context.viewer, what);
      // The list (at most 100 items) and the coordinates are bounded by the schema (gateway/input-limits.ts) before
      // this runs; the ids and times here, all of them before any position is written.
      const now = Date.now();
      locations.forEach((item, i) => {
        checkId(`locations[${i}].driverId`, item.driverId);
        checkPositionTime(`locations[${i}].at`, item.at, now);
      });
      // Each position on its own: another driver's first (whether it is online is none of the caller's business),
      // then whether its driver is online, as the projection says (the dispatcher decides nothing from an offline one).
      const refusals: (LocationRejection | undefined)[] = locations.map(({ driverId }) => {
        const message = policy.positionRefusal(viewer, driverId, what);
        return message === undefined ? undefined : { driverId, code: 'FORBIDDEN', message };
      });
      const ids = [...new Set(locations.filter((_, i) => !refusals[i]).map((l) => l.driverId))];
      const drivers = await Promise.all(ids.map((id) => context.rides.driversById.load(id))); // one query
      const online = new Map(drivers.flatMap((d) => (d && d.status !== 'OFFLINE' ? [[d.id, driverRegion(d)]] : [])));
      locations.forEach(({ driverId }, i) => {
        if (!refusals[i] && !online.has(driverId)) {
          refusals[i] = { driverId, code: 'FAILED_PRECONDITION', message: `driver ${driverId} is offline: call goOnline before sending locations` };
        }
      });
      const actor = actorOf(context.viewer);
      // Oldest first (a stable sort): the newest wins in any order, but one sent after a newer one makes the
      // dispatcher say the newest again, so a device that lists its newest first would cost one more message each.
      const accepted = locations.filter((_, i) => !refusals[i]).sort((a, b) => a.at.getTime() - b.at.getTime())
        .map(({ driverId, location, at }) => driverLocationReported(driverId, location, at, actor, online.get(driverId)));
      // Written, keyed by driver, once Kafka has them all (acks=all); no reply to wait for.
      if (accepted.length) await context.commands.publish(accepted, context.commandTimeoutMs);
      return { accepted: accepted.length, rejected: refusals.filter((r) => r !== undefined) };
    },
    async goOffline(_, { driverId }, context) {
      policy.actAsDriver(context.viewer, driverId, 'goOffline');
      const region = driverRegion(await context.rides.driversById.load(checkId('driverId', driverId)));
      await execute(context, { type: 'GoOffline', data: { driverId, region } });
      return driverAfter(context, driverId);
    },
    async requestRide(_, { input }, context) {
      policy.requestRide(context.viewer, input.riderId);
      const rideId = input.id ?? randomUUID();
      checkId('input.id', rideId);
      const region = pickupRegion('input.pickup', input.pickup);
      const deadline = Date.now() + context.commandTimeoutMs;
      // Time is decided here, once: the ride carries its expiry, and the dispatcher's clock input cancels it.
      const requestedAt = new Date();
      const expiresAt = new Date(requestedAt.getTime() + rideRequestTimeoutMs());
      await execute(context, {
        type: 'RequestRide',
        data: {
          rideId, riderId: checkId('input.riderId', input.riderId), pickup: input.pickup, dropoff: input.dropoff,
          requestedAt: requestedAt.toISOString(), expiresAt: expiresAt.toISOString(), region,
        },
      });
      return rideAfter(context, rideId, deadline);
    },
    async startRide(_, { rideId }, context) {
      await policy.actOnRide(context.viewer, rideId, ['driver'], 'startRide', partiesOf(context));
      await execute(context, { type: 'StartRide', data: { rideId: checkId('rideId', rideId), region: rideRegion(await partiesOf(context)(rideId)) } });
      return rideAfter(context, rideId);
    },
    async completeRide(_, { rideId }, context) {
      await policy.actOnRide(context.viewer, rideId, ['driver'], 'completeRide', partiesOf(context));
      await execute(context, { type: 'CompleteRide', data: { rideId: checkId('rideId', rideId), region: rideRegion(await partiesOf(context)(rideId)) } });
      return rideAfter(context, rideId);
    },
    async cancelRide(_, { rideId }, context) {
      await policy.actOnRide(context.viewer, rideId, ['rider', 'driver'], 'cancelRide', partiesOf(context));
      await execute(context, { type: 'CancelRide', data: { rideId: checkId('rideId', rideId), region: rideRegion(await partiesOf(context)(rideId)) } });
      return rideAfter(context, rideId);
    },
  },

  Subscription: {
    rideUpdated: {
      // Authorized once, here: the updates that follow are the ride's, the same for every subscriber allowed.
      async subscribe(_, { rideId, after }, context) {
        // A bad cursor is refused before anything else happens.
        const position = after == null ? undefined : positionOf(after, rideId);
        await policy.subscribeRide(policy.readRides(context.viewer, 'rideUpdated'), rideId, partiesOf(context));
        return context.rides.live.ride(rideId, position);
      },
      resolve: (ride: unknown) => ride as never,
    },
    driverLocation: {
      subscribe(_, { driverId }, { viewer, rides }) {
        if (!policy.mayReadDriver(policy.readDriver(viewer, 'driverLocation'), driverId)) throw policy.otherDriver(driverId);
        return rides.live.driver(driverId);
      },
      resolve: (driver: unknown) => driver as never,
    },
  },

  Ride: {
    pickup: (ride) => ({ lat: ride.pickupLat, lng: ride.pickupLng }),
    dropoff: (ride) => ({ lat: ride.dropoffLat, lng: ride.dropoffLng }),
    async driverLocation(ride, _, { rides }) {
      if (ride.driverLocation !== undefined) return ride.driverLocation;
      if (!ride.driverId || !UNDER_WAY.has(ride.state)) return null;
      return locationOf(await rides.driversById.load(ride.driverId));
    },
    // A ride is never without events: one not in the index yet is being indexed beside its projection.
    async cursor(ride, _, { rides }) {
      if (ride.cursor) return ride.cursor;
      const latest = await rides.latestEventByRideId.load(ride.id);
      if (!latest) throw new SystemError('UNAVAILABLE', `ride ${ride.id}'s history is still being indexed: ask again in a moment`, true);
      return latest.position;
    },
    // Authorized with the ride it hangs from: whoever may see the ride may see how it came to be.
    history: (ride, { first, after }, { rides }) => historyPage(rides.events, rideStream(ride.id), first ?? 20, after),
  },

  Driver: {
    location: (driver) => locationOf(driver),
  },
};
