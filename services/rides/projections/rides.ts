/**
 * The drivers and rides read models. A batch is folded per driver and per ride in memory first (the last status,
 * the newest position by the time it was taken, the last ride state win: each topic keeps one driver's or one
 * ride's events in order), then written with one statement per kind of change, so a batch of 1,000 positions costs
 * one upsert, not 1,000.
 */
import type { ProjectionDefinition } from '../../shared/projector.ts';
import { positionAt, regionOf, ridesContract, type DriverStatus, type EventData, type RideState, type RidesContract } from '../contract.ts';

/** The enum's order, in which a ride moves (CANCELLED last, as in SQL comparisons of the enum). */
const STATE_ORDER: readonly RideState[] = ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED'];

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export const ridesProjection: ProjectionDefinition<RidesContract> = {
  ...ridesContract.projection('rides-projector'),
  contract: ridesContract,
  async apply(tx, events) {
    /** Per driver: its last status, and the region it went online in (`null`: unchanged). */
    const statuses = new Map<string, { status: DriverStatus; at: string; region: string | null }>();
    /** Per driver: its newest position, when it was taken (`taken`) and when that was decided (`at`). */
    const positions = new Map<string, { lat: number; lng: number; taken: string; at: string }>();
    const requested = new Map<string, EventData['RideRequested']>();
    const changes = new Map<string, { state: RideState; driverId: string | null; at: string }>();
    // Within a batch as against the row: a ride only moves forward, and a repeat of its state refreshes its time.
    const changeRide = (rideId: string, state: RideState, driverId: string | null, at: string) => {
      const previous = changes.get(rideId);
      if (previous && STATE_ORDER.indexOf(state) < STATE_ORDER.indexOf(previous.state)) return;
      changes.set(rideId, { state, driverId: driverId ?? previous?.driverId ?? null, at });
    };
    for (const event of events) {
      const at = event.occurredAt;
      switch (event.type) {
        case 'DriverWentOnline':
          statuses.set(event.data.driverId, { status: 'AVAILABLE', at, region: regionOf(event.data) });
          break;
        case 'DriverWentOffline':
          statuses.set(event.data.driverId, { status: 'OFFLINE', at, region: statuses.get(event.data.driverId)?.region ?? null });
          break;
        case 'DriverStatusChanged':
          statuses.set(event.data.driverId, { status: event.data.status, at, region: statuses.get(event.data.driverId)?.region ?? null });
          break;
        case 'DriverMoved':
        case 'DriverLocationReported': {
          // Last write wins by the time the position was taken: one that arrives after a newer one is dropped
          // (here, and against the row below); a tie goes to the later in the log.
          const taken = positionAt(event)!;
          const held = positions.get(event.data.driverId);
          if (!held || Date.parse(taken) >= Date.parse(held.taken)) positions.set(event.data.driverId, { ...event.data.location, taken, at });
          break;
        }
        case 'RideRequested':
          requested.set(event.data.rideId, event.data);
          if (!changes.has(event.data.rideId)) changeRide(event.data.rideId, 'REQUESTED', null, at); // a repeat changes nothing
          break;
        case 'DriverAssigned':
          changeRide(event.data.rideId, 'DRIVER_ASSIGNED', event.data.driverId, at);
          break;
        case 'DriverArrived':
          changeRide(event.data.rideId, 'DRIVER_ARRIVED', event.data.driverId, at);
          break;
        case 'RideStarted':
          changeRide(event.data.rideId, 'IN_PROGRESS', event.data.driverId, at);
          break;
        case 'RideCompleted':
          changeRide(event.data.rideId, 'COMPLETED', event.data.driverId, at);
          break;
        case 'RideCancelled':
          changeRide(event.data.rideId, 'CANCELLED', event.data.driverId, at);
          break;
        case 'ClockTicked':
          break;
        default:
          event satisfies never;
      }
    }
    // A driver's status and position come from two topics, projected in either order: each fills in its own columns.
    if (statuses.size) {
      // In id order, as positions below: the two projectors write drivers side by side, and lock its rows in one order.
      const rows = [...statuses].map(([id, s]) => ({ id, ...s })).sort(byId);
      tx.queue`
        INSERT INTO drivers (id, status, region, updated_at)
        SELECT d.id, d.status::"DriverStatus", d.region, d.at
        FROM unnest(${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.status)}::text[], ${rows.map((r) => r.region)}::text[],
                    ${rows.map((r) => r.at)}::timestamptz[]) AS d(id, status, region, at)
        ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, region = COALESCE(EXCLUDED.region, drivers.region),
          updated_at = GREATEST(drivers.updated_at, EXCLUDED.updated_at)`;
    }
    if (positions.size) {
      const rows = [...positions].map(([id, p]) => ({ id, ...p })).sort(byId);
      // A row whose position was taken later keeps it; one with no time (projected before positions had one) takes any.
      tx.queue`
        INSERT INTO drivers (id, status, lat, lng, location_at, updated_at)
        SELECT d.id, 'OFFLINE', d.lat, d.lng, d.taken, d.at
        FROM unnest(${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.lat)}::float8[], ${rows.map((r) => r.lng)}::float8[],
                    ${rows.map((r) => r.taken)}::timestamptz[], ${rows.map((r) => r.at)}::timestamptz[]) AS d(id, lat, lng, taken, at)
        ON CONFLICT (id) DO UPDATE
          SET lat = EXCLUDED.lat, lng = EXCLUDED.lng, location_at = EXCLUDED.location_at, updated_at = GREATEST(drivers.updated_at, EXCLUDED.updated_at)
          WHERE drivers.location_at IS NULL OR EXCLUDED.location_at >= drivers.location_at`;
    }
    // A ride only moves forward, in the enum's order (REQUESTED … COMPLETED, CANCELLED): a repeated event never
    // takes it back. Its events share one partition, so its request is projected in the same batch as, or before, its changes.
    const rides = [...changes].map(([id, c]) => ({ id, ...c, request: requested.get(id) }));
    const created = rides.filter((r) => r.request);
    const updated = rides.filter((r) => !r.request);
    if (created.length) {
      const req = created.map((r) => r.request!);
      tx.queue`
        INSERT INTO rides (id, rider_id, driver_id, state, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, requested_at, updated_at)
        SELECT r.id, r.rider, r.driver, r.state::"RideState", r.plat, r.plng, r.dlat, r.dlng, r.requested, r.at
        FROM unnest(${created.map((r) => r.id)}::text[], ${req.map((q) => q.riderId)}::text[], ${created.map((r) => r.driverId)}::text[],
                    ${created.map((r) => r.state)}::text[], ${req.map((q) => q.pickup.lat)}::float8[], ${req.map((q) => q.pickup.lng)}::float8[],
                    ${req.map((q) => q.dropoff.lat)}::float8[], ${req.map((q) => q.dropoff.lng)}::float8[],
                    ${req.map((q) => q.requestedAt)}::timestamptz[], ${created.map((r) => r.at)}::timestamptz[])
             AS r(id, rider, driver, state, plat, plng, dlat, dlng, requested, at)
        ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, driver_id = COALESCE(EXCLUDED.driver_id, rides.driver_id), updated_at = EXCLUDED.updated_at
        WHERE EXCLUDED.state > rides.state OR (EXCLUDED.state = rides.state AND rides.state <> 'REQUESTED')`; // a repeated request changes nothing
    }
    if (updated.length) {
      tx.queue`
        UPDATE rides SET state = u.state::"RideState", driver_id = COALESCE(u.driver, rides.driver_id), updated_at = u.at
        FROM unnest(${updated.map((r) => r.id)}::text[], ${updated.map((r) => r.state)}::text[], ${updated.map((r) => r.driverId)}::text[],
                    ${updated.map((r) => r.at)}::timestamptz[]) AS u(id, state, driver, at)
        WHERE rides.id = u.id AND u.state::"RideState" >= rides.state`;
    }
  },
};

/** The drivers' positions (driver-locations), projected by the same fold on a consumer of their own. */
export const driverPositionsProjection: ProjectionDefinition<RidesContract> = {
  ...ridesContract.projection('driver-positions-projector'),
  contract: ridesContract,
  apply: ridesProjection.apply,
};
