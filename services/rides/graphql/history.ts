/**
 * A ride's history in the runtime's event index (services/shared/event-index.ts), and the pure fold that turns it
 * into the ride's states: what the rides projection showed after each of its events. `ride(asOf)`, `Ride.history`
 * and resumed `rideUpdated` subscriptions read rides through it.
 */
import type { Ride } from '../../../generated/prisma/client.ts';
import type { IndexedEvent } from '../../shared/event-index.ts';
import { TOPICS, type EventData, type Location, type RideState } from '../contract.ts';

/** The topics of a ride's events. */
export const RIDE_STREAM_TOPICS = [TOPICS.rideEvents] as const;
export const rideStream = (rideId: string) => ({ aggregateId: rideId, topics: RIDE_STREAM_TOPICS });

/** A ride's state as of one of its events: the projection's row, with that event's cursor. */
export type RideAsOf = Ride & { cursor: string; driverLocation: Location | null };

/** The projection's order of states (the enum's): a ride only moves forward; a repeat of a state refreshes its time. */
const ORDER: readonly RideState[] = ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED'];
const REACHED: Record<string, RideState> = {
  DriverAssigned: 'DRIVER_ASSIGNED', DriverArrived: 'DRIVER_ARRIVED', RideStarted: 'IN_PROGRESS', RideCompleted: 'COMPLETED', RideCancelled: 'CANCELLED',
};

/**
 * Each state of a ride along its history, oldest first. Empty when the history does not start with its request.
 * `driverLocation` is what the history itself knows: the arrival's position while DRIVER_ARRIVED, else null (the
 * driver's other positions are the driver's events, not the ride's).
 */
export function rideStatesOf(history: readonly IndexedEvent[]): RideAsOf[] {
  const states: RideAsOf[] = [];
  let ride: RideAsOf | undefined;
  for (const event of history) {
    const cursor = event.position;
    if (event.type === 'RideRequested') {
      if (ride) continue; // a repeated request changes nothing
      const request = event.data as EventData['RideRequested'];
      ride = {
        id: request.rideId, riderId: request.riderId, driverId: null, state: 'REQUESTED',
        pickupLat: request.pickup.lat, pickupLng: request.pickup.lng, dropoffLat: request.dropoff.lat, dropoffLng: request.dropoff.lng,
        requestedAt: new Date(request.requestedAt), updatedAt: event.occurredAt, cursor, driverLocation: null,
      };
    } else {
      const state = REACHED[event.type];
      if (!ride) return states;
      if (!state || ORDER.indexOf(state) < ORDER.indexOf(ride.state)) continue;
      const { driverId } = event.data as { driverId?: string | null };
      ride = {
        ...ride, state, driverId: driverId ?? ride.driverId, updatedAt: event.occurredAt, cursor,
        driverLocation: event.type === 'DriverArrived' ? (event.data as EventData['DriverArrived']).location : null,
      };
    }
    states.push(ride);
  }
  return states;
}
