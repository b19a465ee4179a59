/**
 * The rides domain's contract: drivers going online and streaming their positions, riders hailing rides, and
 * the dispatcher's decisions (assignment, arrival, the end of a ride), with an explicit clock for timeouts.
 * One service, `dispatch`, decides it per region (./regions.ts): every driver and ride of a region against one
 * state, so a driver can never be given two rides, and regions side by side on the partitions their messages are
 * placed on.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { regionStateKey } from './config.ts';
import {
  defineContract,
  type Actor, type CommandOf, type EnvelopeOf, type EventEnvelope as AnyEventEnvelope, type EventOf, type Outgoing,
} from '../shared/messages.ts';

export const TOPICS = {
  driverCommands: 'drivers.commands',
  rideCommands: 'rides.commands',
  /**
   * The high-rate stream of positions, keyed by driver id: `DriverLocationReported` as the gateway took them from
   * drivers (`updateDriverLocations`), and the dispatcher's `DriverMoved`.
   */
  driverLocations: 'driver-locations',
  driverEvents: 'drivers.events',
  rideEvents: 'rides.events',
  /** `ClockTicked`, every second: the only way time reaches the dispatcher. */
  clock: 'rides.clock',
} as const;

/** The key of the clock's ticks written before regions, when the dispatcher decided one aggregate, the city. */
export const CITY = 'city';
/**
 * The region of a message written before regions (which carries none): the city the system knew then, Berlin's box.
 * `regionOf` applies it, the one place a message's region is read.
 */
export const LEGACY_REGION = 'berlin';
/**
 * Every message the dispatcher reads or decides names its region (the gateway's commands and positions, the
 * dispatcher's events, the clock's ticks), so its state is found by it: optional, for those written before.
 */
const region = z.string().min(1).optional();
/** The region a message belongs to: its own, or, written before regions, the legacy one. */
export const regionOf = (data: { region?: string }): string => data.region ?? LEGACY_REGION;
/** Where a region's messages go: the partition of its state (config.ts, `regionStateKey`), whatever their key. */
const byRegion = (data: { region?: string }) => regionStateKey(regionOf(data));

const location = z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) });
export type Location = z.infer<typeof location>;
const id = z.string().min(1);
/**
 * When a position was taken, by the clock of whoever took it: the driver's own for a reported one. Positions of a
 * driver are decided by it, last write wins: an older one never replaces a newer one, whatever order they arrive in.
 */
const positionTime = z.iso.datetime();
const RideState = z.enum(['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED']);
export type RideState = z.infer<typeof RideState>;
export type DriverStatus = 'OFFLINE' | 'AVAILABLE' | 'ON_RIDE';
const CancelReason = z.enum(['rider', 'timeout']);

const ride = {
  rideId: id,
  riderId: id,
  pickup: location,
  dropoff: location,
  requestedAt: z.iso.datetime(),
  /** When an unassigned ride is cancelled (requestedAt + RIDE_REQUEST_TIMEOUT_MS), by the first ClockTicked at or after it. */
  expiresAt: z.iso.datetime(),
  region,
};
const byDriver = (d: { driverId: string }) => d.driverId;
const byRide = (d: { rideId: string }) => d.rideId;
// Keyed by their driver or ride (its id on every topic and projection), placed by their region.
const driverCommand = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ driverId: id, ...shape, region }), topic: TOPICS.driverCommands, schemaVersion: 1, key: byDriver, partitionKey: byRegion });
const rideCommand = { schema: z.object({ rideId: id, region }), topic: TOPICS.rideCommands, schemaVersion: 1, key: byRide, partitionKey: byRegion };
const driverEvent = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ driverId: id, ...shape, region }), topic: TOPICS.driverEvents, schemaVersion: 1, key: byDriver, partitionKey: byRegion });
const rideEvent = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ rideId: id, ...shape, region }), topic: TOPICS.rideEvents, schemaVersion: 1, key: byRide, partitionKey: byRegion });
const positionEvent = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ driverId: id, location, ...shape, region }), topic: TOPICS.driverLocations, schemaVersion: 1, key: byDriver, partitionKey: byRegion });

export const ridesContract = defineContract({
  domain: 'rides',
  topics: {
    [TOPICS.driverCommands]: {},
    [TOPICS.rideCommands]: {},
    // Only the latest position of a driver matters once it is decided on: compaction bounds the replay.
    // Positions are no ride's or driver's history: the event index leaves them out (5,000 a second would be as many rows).
    [TOPICS.driverLocations]: { compacted: true, history: false },
    [TOPICS.driverEvents]: {},
    [TOPICS.rideEvents]: {},
    // The dispatcher's clock is no entity's history either, and it ticks every second for ever: a history of the
    // index would never be at the end of it for long (the chaos run's replay check caught a tick the live one lacked).
    [TOPICS.clock]: { history: false },
  },
  // Commands carry what the client asked for; the dispatcher decides.
  commands: {
    GoOnline: driverCommand({ location }),
    UpdateDriverLocation: driverCommand({ location }),
    GoOffline: driverCommand({}),
    RequestRide: { schema: z.object(ride), topic: TOPICS.rideCommands, schemaVersion: 1, key: byRide, partitionKey: byRegion },
    StartRide: rideCommand,
    CompleteRide: rideCommand,
    CancelRide: rideCommand,
  },
  events: {
    DriverWentOnline: driverEvent({}),
    DriverWentOffline: driverEvent({}),
    /** AVAILABLE ↔ ON_RIDE while online, naming the ride: a driver's status lives on this topic alone, in order. */
    DriverStatusChanged: driverEvent({ status: z.enum(['AVAILABLE', 'ON_RIDE']), rideId: id.nullable() }),
    /**
     * The dispatcher's word on a position: one sent with `updateDriverLocation` or `goOnline` (`at` is when the
     * gateway took it), or the newest known again after an older report arrived later, so that compaction, which
     * keeps the last message per driver, keeps the newest position. Events from before `at` read as of their `occurredAt`.
     */
    DriverMoved: positionEvent({ at: positionTime.optional() }),
    /**
     * A position as a driver took it (`updateDriverLocations`), written by the gateway without waiting for anyone: a
     * fact the dispatcher folds (last write wins by `at`) and decides from (arrival, a waiting ride in range).
     */
    DriverLocationReported: positionEvent({ at: positionTime }),
    RideRequested: rideEvent(ride),
    DriverAssigned: rideEvent({ driverId: id }),
    /** Where the driver was when it arrived, so whoever follows the ride sees the arrival with its position. */
    DriverArrived: rideEvent({ driverId: id, location, at: positionTime.optional() }),
    RideStarted: rideEvent({ driverId: id }),
    RideCompleted: rideEvent({ driverId: id }),
    RideCancelled: rideEvent({ driverId: id.nullable(), reason: CancelReason }),
    /** One per region each second (one for the city before regions). */
    ClockTicked: { schema: z.object({ now: z.iso.datetime(), region }), topic: TOPICS.clock, schemaVersion: 1, key: (d) => d.region ?? CITY, partitionKey: byRegion },
  },
  roles: ['rider', 'driver'],
  errorCodes: ['FAILED_PRECONDITION', 'RIDE_ID_CONFLICT'],
  services: [{ name: 'dispatch', inputs: [TOPICS.driverCommands, TOPICS.rideCommands, TOPICS.driverLocations, TOPICS.clock] }],
  projections: [
    { name: 'rides-projector', process: 'dispatch', topics: [TOPICS.driverEvents, TOPICS.rideEvents], tables: ['drivers', 'rides'] },
    // Positions apart, on a consumer of their own: thousands a second, their batches would hold up a ride's state
    // (and every requestRide waiting to read it) behind theirs.
    { name: 'driver-positions-projector', process: 'dispatch', topics: [TOPICS.driverLocations], tables: ['drivers'] },
  ],
});

export type RidesContract = typeof ridesContract;
export type Command = CommandOf<RidesContract>;
export type DomainEvent = EventOf<RidesContract>;
export type Envelope = EnvelopeOf<RidesContract>;
export type EventEnvelope<E extends DomainEvent = DomainEvent> = AnyEventEnvelope<E>;
export type EventData = { [E in DomainEvent as E['type']]: E['data'] };

/**
 * When a position event's position was taken: its own `at`, or, for one written before positions had a time, when it
 * was decided (`occurredAt`; undefined for an event without its envelope, as `decide` emits them).
 */
export const positionAt = (event: { data: { at?: string }; occurredAt?: string }): string | undefined => event.data.at ?? event.occurredAt;

/**
 * A driver's position taken at `at`, reported by `actor`: a fact of its own (no command asked for it), as the
 * gateway writes it for `updateDriverLocations`. `at` keeps milliseconds, as every time on the log does.
 */
export function driverLocationReported(driverId: string, location: Location, at: Date, actor?: Actor, region?: string): Outgoing {
  const eventId = randomUUID();
  return ridesContract.outgoing(ridesContract.validate({
    kind: 'event', eventId, correlationId: eventId, causationId: eventId, type: 'DriverLocationReported', schemaVersion: 1,
    aggregateId: driverId, occurredAt: new Date().toISOString(), ...(actor && { actor }),
    data: { driverId, location, at: at.toISOString(), ...(region !== undefined && { region }) },
  }));
}

/**
 * The clock's tick at `now` for a region (the legacy one when none is named): a fact of its own (it has no cause),
 * published by the ticker for every region, or by a test.
 */
export function clockTicked(now: Date, region?: string): Outgoing {
  const eventId = randomUUID();
  return ridesContract.outgoing(ridesContract.validate({
    kind: 'event', eventId, correlationId: eventId, causationId: eventId, type: 'ClockTicked', schemaVersion: 1,
    aggregateId: region ?? CITY, occurredAt: now.toISOString(), data: { now: now.toISOString(), ...(region !== undefined && { region }) },
  }));
}
