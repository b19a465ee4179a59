/**
 * The bench's rides section (issue 8), through GraphQL like the rest, each figure beside a floor from the same run:
 * - 1,000 drivers sending one location a second each, with riders subscribed to the rides of some of them:
 *   updateDriverLocation sent → that position on the rider's `rideUpdated`, p50/p99 (target p99 ≤ 200 ms);
 *   floor: the bare kafkajs round trip ./run.ts measures.
 * - `driversNear` req/s and p99 with 10,000 drivers online; floor: bare `pg` running the same nearest-drivers SQL.
 * - dispatch latency, requestRide sent → DRIVER_ASSIGNED seen on `rideUpdated`, p50/p99; floor: the kafka round trip.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { BERLIN, randomIn, randomNear, type LatLng } from '../gateway/app/city.ts';
import { EARTH_RADIUS_KM } from '../services/rides/geo.ts';
import { limiter } from '../scripts/simulate-rides.ts';
import { connectionParams, graphql, histogram, load, micros, percentiles } from './measure.ts';
import type { BenchSystem } from './system.ts';

const STREAMING_DRIVERS = 1000;
const WATCHED_RIDES = 200;
const STREAM_WARMUP_SECONDS = 3;
const STREAM_SECONDS = 15;
const NEAR_DRIVERS = 10_000;
const NEAR_RADIUS_KM = 2;
const NEAR_FIRST = 10;
const NEAR_CONCURRENCY = 16;
const NEAR_SECONDS = 8;
const DISPATCHES = 100;
/** Mutations in flight at once: enough to keep the gateway busy, few enough not to overload it. */
const MUTATION_CONCURRENCY = 64;
const SUBSCRIPTIONS_PER_SOCKET = 50;

const GO_ONLINE = `mutation($driverId: ID!, $location: LocationInput!) { goOnline(driverId: $driverId, location: $location) { id } }`;
const MOVE = `mutation($driverId: ID!, $location: LocationInput!) { updateDriverLocation(driverId: $driverId, location: $location) { id } }`;
const REQUEST = `mutation($input: RequestRideInput!) { requestRide(input: $input) { id state driverId } }`;
const RIDE_UPDATED = `subscription($rideId: ID!) { rideUpdated(rideId: $rideId) { id state driverId driverLocation { lat lng } } }`;
const NEAR = `query($location: LocationInput!, $radiusKm: Float!, $first: Int) { driversNear(location: $location, radiusKm: $radiusKm, first: $first) { id location { lat lng } } }`;

/** The SQL of driversNear (services/rides/graphql/context.ts), with pg's numbered parameters. */
const NEAR_SQL = `
  SELECT id, status, lat, lng, "updatedAt" FROM (
    SELECT id, status, lat, lng, updated_at AS "updatedAt",
           2 * $1::float8 * asin(least(1, sqrt(
             power(sin(radians(lat - $2::float8) / 2), 2) +
             cos(radians($2::float8)) * cos(radians(lat)) * power(sin(radians(lng - $3::float8) / 2), 2)))) AS km
    FROM drivers
    WHERE status = 'AVAILABLE'
      AND lat BETWEEN $4::float8 AND $5::float8
      AND (false OR lng BETWEEN $6::float8 AND $7::float8)
  ) near
  WHERE km <= $8::float8
  ORDER BY km, id
  LIMIT $9`;

function nearParameters(at: LatLng, radiusKm: number, first: number) {
  const dLat = radiusKm / ((EARTH_RADIUS_KM * Math.PI) / 180);
  const dLng = (Math.asin(Math.sin(radiusKm / EARTH_RADIUS_KM) / Math.cos((at.lat * Math.PI) / 180)) * 180) / Math.PI;
  return [EARTH_RADIUS_KM, at.lat, at.lng, at.lat - dLat, at.lat + dLat, at.lng - dLng, at.lng + dLng, radiusKm, first];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RidesFigures {
  locationDelivery: ReturnType<typeof percentiles> & { drivers: number; watchedRides: number; sentPerSecond: number; targetPerSecond: number };
  driversNear: Awaited<ReturnType<typeof load>> & { drivers: number };
  bareNear: Awaited<ReturnType<typeof load>>;
  dispatch: ReturnType<typeof percentiles> & { alreadyAssignedInAnswer: number };
}

export async function benchRides(system: BenchSystem, say: (line: string) => void): Promise<RidesFigures> {
  const run = randomUUID().slice(0, 6);
  const bounded = limiter(MUTATION_CONCURRENCY);
  const mutate = (query: string, variables: Record<string, unknown>) => bounded(() => graphql(system.url, query, variables));
  const clients: Client[] = [];
  const socket = () => {
    const client = createClient({ url: system.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
    clients.push(client);
    return client;
  };

  async function goOnline(from: number, to: number) {
    const started = performance.now();
    const positions = new Map<string, LatLng>();
    let done = 0;
    const progress = setInterval(() => say(`  ${done}/${to - from} drivers online…`), 5000);
    await Promise.all(Array.from({ length: to - from }, async (_, i) => {
      const driverId = `bench-${run}-d${from + i}`;
      const location = randomIn(BERLIN);
      await mutate(GO_ONLINE, { driverId, location });
      positions.set(driverId, location);
      done += 1;
    }));
    clearInterval(progress);
    say(`  ${to - from} drivers online in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return positions;
  }

  try {
    // ---- 1,000 drivers streaming, riders watching ----
    say(`rides: ${STREAMING_DRIVERS} drivers going online…`);
    const positions = await goOnline(0, STREAMING_DRIVERS);

    say(`rides: ${WATCHED_RIDES} riders request rides and subscribe to them…`);
    const sentAt = new Map<string, number>(); // `driverId|lat,lng` → when its updateDriverLocation left
    const delivery = histogram();
    let recording = false;
    const assigned = new Set<string>();
    let client = socket();
    await Promise.all(Array.from({ length: WATCHED_RIDES }, async (_, i) => {
      if (i > 0 && i % SUBSCRIPTIONS_PER_SOCKET === 0) client = socket();
      const own = client;
      const rideId = `bench-${run}-watched${i}`;
      const pickup = randomIn(BERLIN);
      await mutate(REQUEST, { input: { id: rideId, riderId: `bench-${run}-rider${i}`, pickup, dropoff: randomNear(pickup, 1, 3, BERLIN) } });
      own.subscribe<{ rideUpdated: { driverId: string | null; driverLocation: LatLng | null } }>(
        { query: RIDE_UPDATED, variables: { rideId } },
        {
          next: ({ data }) => {
            const ride = data?.rideUpdated;
            if (!ride?.driverId) return;
            assigned.add(rideId);
            if (!ride.driverLocation) return;
            const key = `${ride.driverId}|${ride.driverLocation.lat},${ride.driverLocation.lng}`;
            const at = sentAt.get(key);
            if (at === undefined) return;
            sentAt.delete(key);
            if (recording) delivery.recordValue(Math.max(1, micros() - at));
          },
          error: () => {},
          complete: () => {},
        },
      );
    }));
    const assignDeadline = Date.now() + 30_000;
    while (assigned.size < WATCHED_RIDES && Date.now() < assignDeadline) await sleep(100);
    say(`  ${assigned.size}/${WATCHED_RIDES} watched rides have a driver`);

    say(`rides: ${STREAMING_DRIVERS} drivers × 1 location/s for ${STREAM_WARMUP_SECONDS} + ${STREAM_SECONDS} s…`);
    let stop = false;
    let sent = 0;
    const streamStarted = performance.now();
    let measureStarted = streamStarted;
    const drivers = [...positions.entries()];
    const streaming = drivers.map(async ([driverId, start]) => {
      let at = start;
      await sleep(Math.random() * 1000); // spread over the second
      while (!stop) {
        const tick = performance.now();
        // A few metres each second; never so far that an assigned driver reaches its pickup by chance.
        at = randomNear(at, 0.005, 0.01, BERLIN);
        const location = at;
        // Through the same bound as every mutation: with 1,000 requests in flight at once the gateway answers
        // in seconds and accepts fewer, not more (measured). The time starts when the request leaves the queue.
        await bounded(async () => {
          sentAt.set(`${driverId}|${location.lat},${location.lng}`, micros());
          await graphql(system.url, MOVE, { driverId, location }).catch(() => {});
        });
        if (recording) sent += 1;
        await sleep(Math.max(0, 1000 - (performance.now() - tick)));
      }
    });
    await sleep(STREAM_WARMUP_SECONDS * 1000);
    recording = true;
    measureStarted = performance.now();
    for (let s = 0; s < STREAM_SECONDS; s += 5) {
      await sleep(Math.min(5, STREAM_SECONDS - s) * 1000);
      say(`  ${Math.min(s + 5, STREAM_SECONDS)} s: ${(sent / ((performance.now() - measureStarted) / 1000)).toFixed(0)} locations/s, ${delivery.totalCount} deliveries, p99 ${(delivery.getValueAtPercentile(99) / 1000).toFixed(1)} ms`);
    }
    const streamSeconds = (performance.now() - measureStarted) / 1000;
    recording = false;
    stop = true;
    await Promise.all(streaming);
    const locationDelivery = {
      ...percentiles(delivery), drivers: STREAMING_DRIVERS, watchedRides: assigned.size,
      sentPerSecond: sent / streamSeconds, targetPerSecond: STREAMING_DRIVERS,
    };

    // ---- driversNear with 10,000 drivers online ----
    say(`rides: ${NEAR_DRIVERS - STREAMING_DRIVERS} more drivers going online (${NEAR_DRIVERS} in all)…`);
    await goOnline(STREAMING_DRIVERS, NEAR_DRIVERS);
    const near = async () => { await graphql(system.url, NEAR, { location: randomIn(BERLIN), radiusKm: NEAR_RADIUS_KM, first: NEAR_FIRST }); };
    say(`rides: driversNear (${NEAR_RADIUS_KM} km, first ${NEAR_FIRST}), ${NEAR_CONCURRENCY} clients for ${NEAR_SECONDS} s…`);
    await load(NEAR_CONCURRENCY, near, { seconds: 1 });
    const driversNear = { ...(await load(NEAR_CONCURRENCY, near, { seconds: NEAR_SECONDS })), drivers: NEAR_DRIVERS };
    say('rides: floor: the same SQL with bare pg…');
    const pool = new pg.Pool({ connectionString: system.databaseUrl, max: NEAR_CONCURRENCY });
    const bare = async () => { await pool.query(NEAR_SQL, nearParameters(randomIn(BERLIN), NEAR_RADIUS_KM, NEAR_FIRST)); };
    await load(NEAR_CONCURRENCY, bare, { seconds: 1 });
    const bareNear = await load(NEAR_CONCURRENCY, bare, { seconds: NEAR_SECONDS / 2 });
    await pool.end();

    // ---- dispatch: requestRide → DRIVER_ASSIGNED, one at a time ----
    say(`rides: dispatch latency over ${DISPATCHES} rides…`);
    const dispatch = histogram();
    let alreadyAssignedInAnswer = 0;
    const dispatchSocket = socket();
    for (let i = 0; i < DISPATCHES; i += 1) {
      const rideId = `bench-${run}-dispatch${i}`;
      const pickup = randomIn(BERLIN);
      const started = micros();
      // Subscribed first, so the assignment cannot go by unseen (`rideUpdated` waits for a ride not yet requested);
      // assigned is when the requester learns it: the mutation's answer, or the subscription, whichever is first.
      let unsubscribe = () => {};
      const seen = new Promise<void>((resolveSeen, reject) => {
        unsubscribe = dispatchSocket.subscribe<{ rideUpdated: { state: string } }>(
          { query: RIDE_UPDATED, variables: { rideId } },
          { next: ({ data }) => data && data.rideUpdated.state !== 'REQUESTED' && resolveSeen(), error: reject, complete: () => {} },
        );
      });
      const answered = graphql(system.url, REQUEST, { input: { id: rideId, riderId: `bench-${run}-dispatcher`, pickup, dropoff: randomNear(pickup, 1, 3, BERLIN) } })
        .then(({ requestRide }) => {
          if (requestRide.state === 'REQUESTED') return seen;
          alreadyAssignedInAnswer += 1;
        });
      await Promise.race([seen, answered]);
      unsubscribe();
      dispatch.recordValue(Math.max(1, micros() - started));
    }

    return { locationDelivery, driversNear, bareNear, dispatch: { ...percentiles(dispatch), alreadyAssignedInAnswer } };
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
}
