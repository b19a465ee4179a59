/**
 * The bench's rides section (issues 8 and 23), through GraphQL like the rest, each figure beside its target and a
 * floor from the same run:
 * - drivers spread over the system's regions (the `regions` query), each sending one position a second in batches
 *   of at most 100 (`updateDriverLocations`): positions accepted per second (target ≥ 5,000 with 5,000 drivers);
 * - riders, one ride each in the same regions, each subscribed to its ride's `rideUpdated`: each position of its
 *   driver from `updateDriverLocations` sent → that position delivered, p50/p99 (target p99 ≤ 250 ms with 500);
 * - meanwhile, dispatch one ride at a time: requestRide sent → DRIVER_ASSIGNED seen, p50/p99 (target p99 ≤ 100 ms
 *   with two dispatch instances), then the same on a quiet system for comparison;
 * - the CPU each process of the system spent during the stream, and the bench's own clients beside it;
 * - `driversNear` req/s and p99 with twice the drivers online (10,000), the others in the first region; floor: bare `pg` running the same nearest-drivers SQL.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { randomIn, randomNear, REGIONS, type Box, type LatLng, type RegionView } from '../gateway/app/city.ts';
import { EARTH_RADIUS_KM } from '../services/rides/geo.ts';
import { limiter } from '../scripts/simulate-rides.ts';
import { connectionParams, graphql, histogram, load, micros, percentiles } from './measure.ts';
import type { BenchSystem } from './system.ts';
import { cpuBetween } from './usage.ts';
import { traceDispatch, type DispatchHop } from './dispatch-hops.ts';

export interface RidesOptions {
  /** Drivers streaming positions, spread over the regions. Default 5,000. */
  drivers: number;
  /** Riders, one ride each, subscribed to it. Default 500. */
  riders: number;
  /** Seconds of the measured stream, after a warm-up. Default 15. */
  seconds: number;
}

export const RIDES_DEFAULTS: RidesOptions = { drivers: 5000, riders: 500, seconds: 15 };

/** The targets (issue 23). */
export const RIDES_TARGETS = { positionsPerSecond: 5000, deliveryP99Ms: 250, dispatchP99Ms: 100 };

/** Positions per `updateDriverLocations` call: the most the schema takes. */
const BATCH = 100;
const STREAM_WARMUP_SECONDS = 3;
/** Drivers online for `driversNear`, per streaming driver: 10,000 with the default 5,000. */
const NEAR_DRIVERS_PER_DRIVER = 2;
const NEAR_RADIUS_KM = 2;
const NEAR_FIRST = 10;
const NEAR_CONCURRENCY = 16;
const NEAR_SECONDS = 8;
const DISPATCHES = 100;
/** Mutations in flight at once while setting up: enough to keep the gateway busy, few enough not to overload it. */
const MUTATION_CONCURRENCY = 64;
const SUBSCRIPTIONS_PER_SOCKET = 50;

const GO_ONLINE = `mutation($driverId: ID!, $location: LocationInput!) { goOnline(driverId: $driverId, location: $location) { id } }`;
const MOVE_MANY = `mutation($locations: [DriverLocationInput!]!) { updateDriverLocations(locations: $locations) { accepted rejected { driverId code } } }`;
const REQUEST = `mutation($input: RequestRideInput!) { requestRide(input: $input) { id state driverId } }`;
const RIDE_UPDATED = `subscription($rideId: ID!) { rideUpdated(rideId: $rideId) { id state driverId driverLocation { lat lng } } }`;
const HISTORY = `query($id: ID!) { ride(id: $id) { history(first: 10) { edges { node { type occurredAt } } } } }`;
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
const keyOf = (driverId: string, at: LatLng) => `${driverId}|${at.lat},${at.lng}`;

interface StreamingDriver { id: string; box: Box; at: LatLng }

export interface RidesFigures {
  regions: string[];
  positions: {
    drivers: number; batch: number; seconds: number; sentPerSecond: number; acceptedPerSecond: number;
    rejected: number; failedCalls: number; firstFailure?: string; callP50Ms: number; callP99Ms: number;
  };
  locationDelivery: ReturnType<typeof percentiles> & { watchedRides: number; watchedSent: number };
  dispatch: ReturnType<typeof percentiles> & { alreadyAssignedInAnswer: number; underLoad: boolean; decided: ReturnType<typeof percentiles>; hops: DispatchHop[] };
  quietDispatch: ReturnType<typeof percentiles> & { alreadyAssignedInAnswer: number; decided: ReturnType<typeof percentiles>; hops: DispatchHop[] };
  /** Share of one core each process of the system used during the measured stream (1 = a whole core). */
  coresDuringStream: Record<string, number>;
  /** The same for this process: the bench's own HTTP and graphql-ws clients. */
  benchClientsCores: number;
  driversNear: Awaited<ReturnType<typeof load>> & { drivers: number; inRegion: number; region: string };
  bareNear: Awaited<ReturnType<typeof load>>;
}

export async function benchRides(system: BenchSystem, say: (line: string) => void, options: RidesOptions = RIDES_DEFAULTS): Promise<RidesFigures> {
  const run = randomUUID().slice(0, 6);
  const bounded = limiter(MUTATION_CONCURRENCY);
  const mutate = (query: string, variables: Record<string, unknown>) => bounded(() => graphql(system.url, query, variables));
  const clients: Client[] = [];
  const socket = () => {
    const client = createClient({ url: system.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
    clients.push(client);
    return client;
  };
  const regions: RegionView[] = (await graphql(system.url, REGIONS)).regions;
  if (!regions.length) throw new Error('the system answers no regions');
  const regionOf = (i: number) => regions[i % regions.length];

  async function goOnline(count: number, name: (i: number) => string, boxOf: (i: number) => Box): Promise<StreamingDriver[]> {
    const started = performance.now();
    let done = 0;
    const progress = setInterval(() => say(`  ${done}/${count} drivers online…`), 5000);
    const online = await Promise.all(Array.from({ length: count }, async (_, i) => {
      const driver = { id: name(i), box: boxOf(i), at: randomIn(boxOf(i)) };
      await mutate(GO_ONLINE, { driverId: driver.id, location: driver.at });
      done += 1;
      return driver;
    }));
    clearInterval(progress);
    say(`  ${count} drivers online in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return online;
  }

  /**
   * requestRide → DRIVER_ASSIGNED, one ride at a time, as the requester learns it: the mutation's answer, or its
   * `rideUpdated` (subscribed first, so the assignment cannot go by unseen), whichever comes first.
   */
  async function dispatchLatency(label: string, count: number, regionOffset: number) {
    const h = histogram();
    const decided = histogram();
    const sentAtMs = new Map<string, number>();
    let alreadyAssignedInAnswer = 0;
    const client = socket();
    const trace = await traceDispatch(system);
    for (let i = 0; i < count; i += 1) {
      const box = regionOf(regionOffset + i).box;
      const rideId = `bench-${run}-${label}${i}`;
      const pickup = randomIn(box);
      const started = micros();
      sentAtMs.set(rideId, Date.now());
      trace.mark(rideId, 'sent');
      let unsubscribe = () => {};
      const seen = new Promise<void>((resolveSeen, reject) => {
        unsubscribe = client.subscribe<{ rideUpdated: { state: string } }>(
          { query: RIDE_UPDATED, variables: { rideId } },
          {
            next: ({ data }) => {
              if (!data || data.rideUpdated.state === 'REQUESTED') return;
              trace.mark(rideId, 'pushed');
              resolveSeen();
            },
            error: reject,
            complete: () => {},
          },
        );
      });
      const answered = graphql(system.url, REQUEST, { input: { id: rideId, riderId: `bench-${run}-${label}-rider`, pickup, dropoff: randomNear(pickup, 1, 3, box) } })
        .then(({ requestRide }) => {
          if (requestRide.state === 'REQUESTED') return seen;
          trace.mark(rideId, 'answered');
          alreadyAssignedInAnswer += 1;
        });
      await Promise.race([seen, answered]);
      h.recordValue(Math.max(1, micros() - started));
      // Both ways of learning it are timed (trace), the next ride only after both (or a second), so they do not overlap.
      await Promise.race([Promise.all([seen, answered]), sleep(1000)]).catch(() => {});
      unsubscribe();
    }
    const hops = await trace.stop();
    // Where the time went: sent → the dispatcher's DriverAssigned (its occurredAt, on this machine's clock); the rest
    // is the projection and the push (or the answer) after it.
    for (const [rideId, sent] of sentAtMs) {
      const { ride } = await graphql(system.url, HISTORY, { id: rideId });
      const assigned = ride?.history.edges.find((e: { node: { type: string } }) => e.node.type === 'DriverAssigned');
      if (assigned) decided.recordValue(Math.max(1, (Date.parse(assigned.node.occurredAt) - sent) * 1000));
    }
    return { ...percentiles(h), alreadyAssignedInAnswer, decided: percentiles(decided), hops };
  }

  try {
    say(`rides: regions ${regions.map((r) => r.id).join(', ')}; ${options.drivers} drivers going online…`);
    const drivers = await goOnline(options.drivers, (i) => `bench-${run}-d${i}`, (i) => regionOf(i).box);

    // ---- riders: one ride each, followed on rideUpdated ----
    say(`rides: ${options.riders} riders request rides and subscribe to them…`);
    const sentAt = new Map<string, number>(); // keyOf(driver, position) → when its updateDriverLocations left (µs)
    const rideOfDriver = new Map<string, string>(); // the watched rides' drivers
    const delivery = histogram();
    let recording = false;
    let watchedSent = 0;
    let client = socket();
    await Promise.all(Array.from({ length: options.riders }, async (_, i) => {
      if (i > 0 && i % SUBSCRIPTIONS_PER_SOCKET === 0) client = socket();
      const own = client;
      const rideId = `bench-${run}-watched${i}`;
      const { box } = regionOf(i);
      const pickup = randomIn(box);
      own.subscribe<{ rideUpdated: { driverId: string | null; driverLocation: LatLng | null } }>(
        { query: RIDE_UPDATED, variables: { rideId } },
        {
          next: ({ data }) => {
            const ride = data?.rideUpdated;
            if (!ride?.driverId) return;
            rideOfDriver.set(ride.driverId, rideId);
            if (!ride.driverLocation) return;
            const key = keyOf(ride.driverId, ride.driverLocation);
            const at = sentAt.get(key);
            if (at === undefined) return;
            sentAt.delete(key);
            if (recording) delivery.recordValue(Math.max(1, micros() - at));
          },
          error: () => {},
          complete: () => {},
        },
      );
      await mutate(REQUEST, { input: { id: rideId, riderId: `bench-${run}-rider${i}`, pickup, dropoff: randomNear(pickup, 1, 3, box) } });
    }));
    const assignDeadline = Date.now() + 30_000;
    while (rideOfDriver.size < options.riders && Date.now() < assignDeadline) await sleep(100);
    say(`  ${rideOfDriver.size}/${options.riders} watched rides have a driver`);

    // ---- every driver streams one position a second, in batches; dispatch meanwhile ----
    const batches = Array.from({ length: Math.ceil(drivers.length / BATCH) }, (_, b) => drivers.slice(b * BATCH, (b + 1) * BATCH));
    say(`rides: ${drivers.length} drivers × 1 position/s in ${batches.length} updateDriverLocations calls a second, for ${STREAM_WARMUP_SECONDS} + ${options.seconds} s, dispatching ${DISPATCHES} rides meanwhile…`);
    let stop = false;
    let sent = 0;
    let accepted = 0;
    let rejected = 0;
    let failedCalls = 0;
    let firstFailure: string | undefined;
    const calls = histogram();
    const streaming = batches.map(async (batch, b) => {
      await sleep((1000 * b) / batches.length); // the calls spread over the second
      while (!stop) {
        const tick = performance.now();
        const now = new Date().toISOString();
        const started = micros();
        const locations = batch.map((driver) => {
          // A few metres each second; never so far that an assigned driver reaches its pickup by chance.
          driver.at = randomNear(driver.at, 0.005, 0.01, driver.box);
          if (rideOfDriver.has(driver.id)) {
            sentAt.set(keyOf(driver.id, driver.at), started);
            if (recording) watchedSent += 1;
          }
          return { driverId: driver.id, location: driver.at, at: now };
        });
        const counting = recording;
        await graphql(system.url, MOVE_MANY, { locations }).then(({ updateDriverLocations: answer }) => {
          if (!counting) return;
          sent += locations.length;
          accepted += answer.accepted;
          rejected += answer.rejected.length;
          calls.recordValue(Math.max(1, micros() - started));
        }, (error: Error) => {
          if (!counting) return;
          failedCalls += 1;
          firstFailure ??= error.message.slice(0, 300);
        });
        await sleep(Math.max(0, 1000 - (performance.now() - tick)));
      }
    });
    await sleep(STREAM_WARMUP_SECONDS * 1000);
    recording = true;
    const before = await system.usage();
    const clientsBefore = process.cpuUsage();
    const measureStarted = performance.now();
    const dispatching = dispatchLatency('dispatch', DISPATCHES, 0);
    for (let s = 0; s < options.seconds; s += 5) {
      await sleep(Math.min(5, options.seconds - s) * 1000);
      const elapsed = (performance.now() - measureStarted) / 1000;
      say(`  ${Math.min(s + 5, options.seconds)} s: ${(accepted / elapsed).toFixed(0)} positions/s accepted, ${delivery.totalCount} deliveries, p99 ${(delivery.getValueAtPercentile(99) / 1000).toFixed(1)} ms`);
    }
    const streamSeconds = (performance.now() - measureStarted) / 1000;
    const clientsCpu = process.cpuUsage(clientsBefore);
    const after = await system.usage();
    recording = false;
    const dispatch = await dispatching; // usually done by now; the stream goes on until it is
    stop = true;
    await Promise.all(streaming);
    const coresDuringStream = Object.fromEntries([...cpuBetween(before.cpu, after.cpu)].sort((a, b) => b[1] - a[1]).map(([label, seconds]) => [label, seconds / streamSeconds]));
    const positions = {
      drivers: drivers.length, batch: BATCH, seconds: streamSeconds, sentPerSecond: sent / streamSeconds, acceptedPerSecond: accepted / streamSeconds,
      rejected, failedCalls, firstFailure, callP50Ms: calls.getValueAtPercentile(50) / 1000, callP99Ms: calls.getValueAtPercentile(99) / 1000,
    };
    const locationDelivery = { ...percentiles(delivery), watchedRides: rideOfDriver.size, watchedSent };

    say(`rides: dispatch latency on the quiet system, ${DISPATCHES} rides…`);
    const quietDispatch = await dispatchLatency('quiet', DISPATCHES, 1);

    // ---- driversNear with 10,000 drivers online, the others in the first region ----
    const near = regions[0];
    const more = drivers.length * (NEAR_DRIVERS_PER_DRIVER - 1);
    say(`rides: ${more} more drivers going online in ${near.id} (${drivers.length + more} in all)…`);
    await goOnline(more, (i) => `bench-${run}-near${i}`, () => near.box);
    const inRegion = more + drivers.filter((d) => d.box === near.box).length;
    const nearOne = async () => { await graphql(system.url, NEAR, { location: randomIn(near.box), radiusKm: NEAR_RADIUS_KM, first: NEAR_FIRST }); };
    say(`rides: driversNear (${NEAR_RADIUS_KM} km, first ${NEAR_FIRST}), ${NEAR_CONCURRENCY} clients for ${NEAR_SECONDS} s…`);
    await load(NEAR_CONCURRENCY, nearOne, { seconds: 1 });
    const driversNear = { ...(await load(NEAR_CONCURRENCY, nearOne, { seconds: NEAR_SECONDS })), drivers: drivers.length + more, inRegion, region: near.id };
    say('rides: floor: the same SQL with bare pg…');
    const pool = new pg.Pool({ connectionString: system.databaseUrl, max: NEAR_CONCURRENCY });
    const bare = async () => { await pool.query(NEAR_SQL, nearParameters(randomIn(near.box), NEAR_RADIUS_KM, NEAR_FIRST)); };
    await load(NEAR_CONCURRENCY, bare, { seconds: 1 });
    const bareNear = await load(NEAR_CONCURRENCY, bare, { seconds: NEAR_SECONDS / 2 });
    await pool.end();

    return {
      regions: regions.map((r) => r.id), positions, locationDelivery,
      dispatch: { ...dispatch, underLoad: true }, quietDispatch,
      coresDuringStream, benchClientsCores: (clientsCpu.user + clientsCpu.system) / 1e6 / streamSeconds,
      driversNear, bareNear,
    };
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
}
