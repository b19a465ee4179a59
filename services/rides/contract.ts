/**
 * The rides domain's contract: drivers going online and streaming their positions, riders hailing rides, and
 * the dispatcher's decisions (assignment, arrival, the end of a ride), with an explicit clock for timeouts.
 * One service, `dispatch`, decides all of it against one state, so a driver can never be given two rides.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  defineContract,
  type CommandOf, type EnvelopeOf, type EventEnvelope as AnyEventEnvelope, type EventOf, type Outgoing,
} from '../shared/messages.ts';

export const TOPICS = {
  driverCommands: 'drivers.commands',
  rideCommands: 'rides.commands',
  /** The high-rate stream of positions, keyed by driver id. */
  driverLocations: 'driver-locations',
  driverEvents: 'drivers.events',
  rideEvents: 'rides.events',
  /** `ClockTicked`, every second: the only way time reaches the dispatcher. */
  clock: 'rides.clock',
} as const;

/** The key of the one aggregate the dispatcher decides on (every driver and ride of the city). */
export const CITY = 'city';

const location = z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) });
export type Location = z.infer<typeof location>;
const id = z.string().min(1);
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
};
const byDriver = (d: { driverId: string }) => d.driverId;
const byRide = (d: { rideId: string }) => d.rideId;
const driverCommand = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ driverId: id, ...shape }), topic: TOPICS.driverCommands, schemaVersion: 1, key: byDriver });
const rideCommand = { schema: z.object({ rideId: id }), topic: TOPICS.rideCommands, schemaVersion: 1, key: byRide };
const driverEvent = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ driverId: id, ...shape }), topic: TOPICS.driverEvents, schemaVersion: 1, key: byDriver });
const rideEvent = <T extends z.ZodRawShape>(shape: T) => ({ schema: z.object({ rideId: id, ...shape }), topic: TOPICS.rideEvents, schemaVersion: 1, key: byRide });

export const ridesContract = defineContract({
  domain: 'rides',
  topics: {
    [TOPICS.driverCommands]: {},
    [TOPICS.rideCommands]: {},
    // Only the latest position of a driver matters once it is decided on: compaction bounds the replay.
    [TOPICS.driverLocations]: { compacted: true },
    [TOPICS.driverEvents]: {},
    [TOPICS.rideEvents]: {},
    [TOPICS.clock]: {},
  },
  // Commands carry what the client asked for; the dispatcher decides.
  commands: {
    GoOnline: driverCommand({ location }),
    UpdateDriverLocation: driverCommand({ location }),
    GoOffline: driverCommand({}),
    RequestRide: { schema: z.object(ride), topic: TOPICS.rideCommands, schemaVersion: 1, key: byRide },
    StartRide: rideCommand,
    CompleteRide: rideCommand,
    CancelRide: rideCommand,
  },
  events: {
    DriverWentOnline: driverEvent({}),
    DriverWentOffline: driverEvent({}),
    /** AVAILABLE ↔ ON_RIDE while online, naming the ride: a driver's status lives on this topic alone, in order. */
    DriverStatusChanged: driverEvent({ status: z.enum(['AVAILABLE', 'ON_RIDE']), rideId: id.nullable() }),
    DriverMoved: { schema: z.object({ driverId: id, location }), topic: TOPICS.driverLocations, schemaVersion: 1, key: byDriver },
    RideRequested: rideEvent(ride),
    DriverAssigned: rideEvent({ driverId: id }),
    /** Where the driver was when it arrived, so whoever follows the ride sees the arrival with its position. */
    DriverArrived: rideEvent({ driverId: id, location }),
    RideStarted: rideEvent({ driverId: id }),
    RideCompleted: rideEvent({ driverId: id }),
    RideCancelled: rideEvent({ driverId: id.nullable(), reason: CancelReason }),
    ClockTicked: { schema: z.object({ now: z.iso.datetime() }), topic: TOPICS.clock, schemaVersion: 1, key: () => CITY },
  },
  roles: ['rider', 'driver'],
  errorCodes: ['FAILED_PRECONDITION', 'RIDE_ID_CONFLICT'],
  services: [{ name: 'dispatch', inputs: [TOPICS.driverCommands, TOPICS.rideCommands, TOPICS.clock] }],
  projections: [
    {
      name: 'rides-projector', process: 'dispatch',
      topics: [TOPICS.driverEvents, TOPICS.driverLocations, TOPICS.rideEvents], tables: ['drivers', 'rides'],
    },
  ],
});

export type RidesContract = typeof ridesContract;
export type Command = CommandOf<RidesContract>;
export type DomainEvent = EventOf<RidesContract>;
export type Envelope = EnvelopeOf<RidesContract>;
export type EventEnvelope<E extends DomainEvent = DomainEvent> = AnyEventEnvelope<E>;
export type EventData = { [E in DomainEvent as E['type']]: E['data'] };

/** The clock's tick at `now`: a fact of its own (it has no cause), published by the ticker or by a test. */
export function clockTicked(now: Date): Outgoing {
  const eventId = randomUUID();
  return ridesContract.outgoing(ridesContract.validate({
    kind: 'event', eventId, correlationId: eventId, causationId: eventId, type: 'ClockTicked', schemaVersion: 1,
    aggregateId: CITY, occurredAt: now.toISOString(), data: { now: now.toISOString() },
  }));
}
