/**
 * `npm run simulate:rides -- --drivers 200 --riders 30 --seconds 60`: a city of drivers and riders driven through
 * the gateway's GraphQL API only (GATEWAY_URL, default http://localhost:4000/graphql). Mutations go over HTTP with
 * at most `--concurrency` requests in flight; each rider follows its ride over graphql-ws (`rideUpdated`).
 *
 * Drivers go online at random places in the first `--regions` regions (the gateway's `regions`, spread evenly) and
 * send their positions every second in batches of 100 (`updateDriverLocations`), moving at `--speed` km/h:
 * cruising toward random points while free, to the pickup once assigned (they learn it from their rider's
 * `rideUpdated`, or from polling `ride`), and to the dropoff after `startRide` (sent on DRIVER_ARRIVED); at the
 * dropoff they `completeRide`. Each rider requests a ride at a random place, to a dropoff up to `--trip-km` away,
 * and a new one whenever the last ends. Progress every second; at the end, rides completed, mean waits, and the
 * location delivery latency riders saw (updateDriverLocations sent → that position on `rideUpdated`). Its clean-up ends
 * every ride it opened (read back from the gateway, as a rider's view may lag) before taking drivers offline.
 *
 * Exit codes: 0 done, 1 failed, 2 bad usage.
 */
import { toolToken } from '../gateway/auth.ts';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import { build } from 'hdr-histogram-js';
import WebSocket from 'ws';
import {
  BERLIN, ENDED, RIDE_FIELDS, randomIn, randomNear, stepToward, distanceKm,
  type Box, type LatLng, type RideState, type RideView,
} from '../gateway/app/city.ts';

export interface SimulateOptions {
  drivers: number;
  riders: number;
  seconds: number;
  /** Driving speed, km/h. */
  speedKmh: number;
  /** Longest trip a rider asks for, km (trips are 0.5 km to this). */
  tripKm: number;
  /** Most HTTP requests in flight at once. */
  concurrency: number;
  url: string;
  /** How many of the gateway's regions to spread drivers and riders over (its first ones). */
  regions: number;
  log: (line: string) => void;
}

export interface SimulationResult {
  seconds: number;
  locationsSent: number;
  ridesRequested: number;
  ridesAssigned: number;
  ridesArrived: number;
  ridesCompleted: number;
  ridesCancelled: number;
  /** Means over the rides that got that far, in ms. */
  meanWaitToAssignmentMs: number | null;
  meanWaitToArrivalMs: number | null;
  /** updateDriverLocation sent → the same position received on the rider's rideUpdated, in ms. */
  locationLatency: { p50: number; p99: number; count: number };
  /** Failed requests by error code. */
  errors: Record<string, number>;
  /** Failed requests of the clean-up, by error code (none expected). */
  cleanupErrors: Record<string, number>;
  /** The regions it ran in. */
  regions: string[];
}

const DEFAULTS = { drivers: 200, riders: 30, seconds: 60, speed: 40, 'trip-km': 3, concurrency: 32, regions: 1 };
export const USAGE = `usage: npm run simulate:rides -- [--drivers ${DEFAULTS.drivers}] [--riders ${DEFAULTS.riders}] [--seconds ${DEFAULTS.seconds}] [--speed ${DEFAULTS.speed}] [--trip-km ${DEFAULTS['trip-km']}] [--concurrency ${DEFAULTS.concurrency}] [--regions ${DEFAULTS.regions}]
  --drivers      drivers online, spread evenly over the regions (the first is Berlin, ${BERLIN.south}–${BERLIN.north} N, ${BERLIN.west}–${BERLIN.east} E, by default)
  --riders       riders at once, each requesting a new ride when its last one ends
  --seconds      how long to run
  --speed        driving speed in km/h (at 40 a 3 km trip takes minutes: raise it for short runs)
  --trip-km      longest trip a rider requests, in km
  --concurrency  most HTTP requests in flight
  --regions      how many of the gateway's regions (query regions) to run in, its first ones
  GATEWAY_URL    the gateway (default http://localhost:4000/graphql)`;

const TICK_MS = 1000;
const RIDE_POLL_MS = 3000;
const RANK: Record<RideState, number> = { REQUESTED: 0, DRIVER_ASSIGNED: 1, DRIVER_ARRIVED: 2, IN_PROGRESS: 3, COMPLETED: 4, CANCELLED: 4 };

const GO_ONLINE = `mutation GoOnline($driverId: ID!, $location: LocationInput!) { goOnline(driverId: $driverId, location: $location) { id status } }`;
const UPDATE_LOCATIONS = `mutation UpdateDriverLocations($locations: [DriverLocationInput!]!) { updateDriverLocations(locations: $locations) { accepted rejected { driverId code message } } }`;
const REGIONS = `query Regions { regions { id box { south west north east } } }`;
/** Positions per updateDriverLocations call: the most the gateway takes. */
const BATCH = 100;
const GO_OFFLINE = `mutation GoOffline($driverId: ID!) { goOffline(driverId: $driverId) { id status } }`;
const REQUEST_RIDE = `mutation RequestRide($input: RequestRideInput!) { requestRide(input: $input) { ${RIDE_FIELDS} } }`;
const START_RIDE = `mutation StartRide($rideId: ID!) { startRide(rideId: $rideId) { ${RIDE_FIELDS} } }`;
const COMPLETE_RIDE = `mutation CompleteRide($rideId: ID!) { completeRide(rideId: $rideId) { ${RIDE_FIELDS} } }`;
const CANCEL_RIDE = `mutation CancelRide($rideId: ID!) { cancelRide(rideId: $rideId) { ${RIDE_FIELDS} } }`;
const RIDE = `query Ride($id: ID!) { ride(id: $id) { ${RIDE_FIELDS} } }`;
const RIDE_UPDATED = `subscription RideUpdated($rideId: ID!) { rideUpdated(rideId: $rideId) { ${RIDE_FIELDS} } }`;

type GraphQLError = { message: string; extensions?: { code?: string } };

/** At most `limit` tasks at once; the rest wait in order. */
export function limiter(limit: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((r) => waiting.push(r));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}

interface Driver {
  id: string;
  box: Box;
  position: LatLng;
  cruiseTo: LatLng;
  ride?: RideView;
  /** A startRide or completeRide is in flight: not sent twice. */
  acting: boolean;
  /** Positions sent, by `lat,lng`, with when: the rider's copy of one gives its delivery latency. */
  sent: Map<string, number>;
}

interface Rider {
  id: string;
  box: Box;
  ride?: RideView;
  requestedAt: number;
  assignedAt?: number;
}

const positionKey = (p: LatLng) => `${p.lat},${p.lng}`;

export async function simulateRides(options: SimulateOptions): Promise<SimulationResult> {
  const { log } = options;
  const run = randomUUID().slice(0, 6);
  const limit = limiter(options.concurrency);
  const wsUrl = options.url.replace(/^http/, 'ws');
  const stepKm = (options.speedKmh * TICK_MS) / 3_600_000;
  const errors: Record<string, number> = {};
  const latency = build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  const totals = { locations: 0, requested: 0, assigned: 0, arrived: 0, completed: 0, cancelled: 0, waitAssign: 0, waitArrive: 0 };
  const drivers = new Map<string, Driver>();
  const riders: Rider[] = [];
  const clients: Client[] = [];
  let stopping = false;
  let counting = errors;
  /** startRide and completeRide calls in flight: the clean-up waits for them. */
  const acting = new Set<Promise<void>>();

  /** One GraphQL request over HTTP, bounded; a refusal is counted by code and answered as undefined. */
  async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T | undefined> {
    const errors = counting;
    const body = await limit(async () => {
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${await toolToken()}` };
      const response = await fetch(options.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      return (await response.json()) as { data?: T; errors?: GraphQLError[] };
    }).catch((error: Error) => ({ errors: [{ message: error.message, extensions: { code: 'NETWORK' } }] }) as { data?: T; errors?: GraphQLError[] });
    for (const error of body.errors ?? []) {
      const code = error.extensions?.code ?? 'UNKNOWN';
      if (!errors[code]) log(`first ${code}: ${error.message}`);
      errors[code] = (errors[code] ?? 0) + 1;
    }
    return body.errors?.length ? undefined : body.data ?? undefined;
  }

  /** A ride as seen by its rider (subscription, poll or a mutation's answer): only forward moves count. */
  function onRide(rider: Rider, ride: RideView, pushed = false) {
    const known = rider.ride;
    if (!known || known.id !== ride.id) return;
    // Delivery latency counts pushed positions only, each once (a state change may carry the same position again).
    if (pushed && ride.driverLocation && ride.driverId) {
      const sent = drivers.get(ride.driverId)?.sent;
      const key = positionKey(ride.driverLocation);
      const sentAt = sent?.get(key);
      if (sentAt !== undefined) latency.recordValue(Math.max(1, Date.now() - sentAt));
      sent?.delete(key);
    }
    if (RANK[ride.state] <= RANK[known.state]) return;
    rider.ride = ride;
    const now = Date.now();
    if (RANK[ride.state] >= RANK.DRIVER_ASSIGNED && rider.assignedAt === undefined && ride.driverId) {
      rider.assignedAt = now;
      totals.assigned += 1;
      totals.waitAssign += now - rider.requestedAt;
    }
    if (RANK[ride.state] >= RANK.DRIVER_ARRIVED && RANK[known.state] < RANK.DRIVER_ARRIVED && ride.state !== 'CANCELLED') {
      totals.arrived += 1;
      totals.waitArrive += now - rider.requestedAt;
    }
    if (ride.state === 'COMPLETED') totals.completed += 1;
    if (ride.state === 'CANCELLED') totals.cancelled += 1;
    // The assigned driver learns its ride (and each state after) from here.
    const driver = ride.driverId ? drivers.get(ride.driverId) : undefined;
    if (driver) driver.ride = ENDED.has(ride.state) ? undefined : ride;
  }

  /** A driver's next position this second, remembered as sent (its rider's copy of it gives the delivery latency). */
  function driverStep(driver: Driver, sentAt: number) {
    const ride = driver.ride;
    const target = ride?.state === 'DRIVER_ASSIGNED' ? ride.pickup : ride?.state === 'IN_PROGRESS' ? ride.dropoff : ride ? undefined : driver.cruiseTo;
    if (target) driver.position = stepToward(driver.position, target, stepKm);
    if (!ride && distanceKm(driver.position, driver.cruiseTo) < stepKm) driver.cruiseTo = randomIn(driver.box);
    const position = { ...driver.position };
    driver.sent.set(positionKey(position), sentAt);
    if (driver.sent.size > 20) driver.sent.delete(driver.sent.keys().next().value!);
    return { driverId: driver.id, location: position, at: new Date(sentAt).toISOString() };
  }

  /** Every driver's position each second, in calls of up to 100, spread over the second; then what their rides ask. */
  async function positionsLoop() {
    const all = [...drivers.values()];
    const batches = Math.ceil(all.length / BATCH);
    await Promise.all(Array.from({ length: batches }, async (_, b) => {
      const mine = all.slice(b * BATCH, (b + 1) * BATCH);
      await sleep((b / batches) * TICK_MS);
      while (!stopping) {
        const started = Date.now();
        const locations = mine.map((driver) => driverStep(driver, Date.now()));
        totals.locations += locations.length;
        const data = await gql<{ updateDriverLocations: { accepted: number; rejected: { code: string; message: string }[] } }>(UPDATE_LOCATIONS, { locations });
        for (const rejection of data?.updateDriverLocations.rejected ?? []) {
          if (!errors[rejection.code]) log(`first ${rejection.code}: ${rejection.message}`);
          errors[rejection.code] = (errors[rejection.code] ?? 0) + 1;
        }
        for (const driver of mine) {
          if (!driver.ride || driver.acting) continue;
          const act = driverActs(driver);
          acting.add(act);
          void act.finally(() => acting.delete(act));
        }
        await sleep(Math.max(0, TICK_MS - (Date.now() - started)));
      }
    }));
  }

  async function driverActs(driver: Driver) {
    const ride = driver.ride;
    // The rider's rideUpdated says when the server saw the driver arrive; the driver then starts the ride.
    if (ride && !driver.acting) {
      const rider = riders.find((r) => r.ride?.id === ride.id);
      const act = ride.state === 'DRIVER_ARRIVED' ? START_RIDE
        : ride.state === 'IN_PROGRESS' && distanceKm(driver.position, ride.dropoff) < 0.001 ? COMPLETE_RIDE : undefined;
      if (act && rider) {
        driver.acting = true;
        const data = await gql<Record<string, RideView>>(act, { rideId: ride.id });
        driver.acting = false;
        if (data) onRide(rider, Object.values(data)[0]);
      }
    }
  }


  async function riderLoop(rider: Rider, client: Client) {
    await sleep(Math.random() * TICK_MS);
    for (let n = 0; !stopping; n += 1) {
      const pickup = randomIn(rider.box);
      const dropoff = randomNear(pickup, 0.5, Math.max(0.5, options.tripKm), rider.box);
      const id = `sim-${run}-r${riders.indexOf(rider)}-${n}`;
      opened.add(id);
      rider.requestedAt = Date.now();
      rider.assignedAt = undefined;
      const data = await gql<{ requestRide: RideView }>(REQUEST_RIDE, { input: { id, riderId: rider.id, pickup, dropoff } });
      if (!data) {
        await sleep(TICK_MS);
        continue;
      }
      totals.requested += 1;
      // The answer may already say DRIVER_ASSIGNED (a driver was in range): it counts like any later update.
      rider.ride = { ...data.requestRide, state: 'REQUESTED', driverId: null };
      onRide(rider, data.requestRide);
      // Its ride's states and the driver's positions over graphql-ws, and a poll of `ride` in case a state
      // went by before the subscription started.
      const stop = client.subscribe<{ rideUpdated: RideView }>(
        { query: RIDE_UPDATED, variables: { rideId: id } },
        { next: ({ data: update }) => update && onRide(rider, update.rideUpdated, true), error: () => {}, complete: () => {} },
      );
      while (!stopping && !ENDED.has(rider.ride.state)) {
        const polled = await gql<{ ride: RideView | null }>(RIDE, { id });
        if (polled?.ride) onRide(rider, polled.ride);
        await sleepUnless(RIDE_POLL_MS, () => stopping || ENDED.has(rider.ride!.state));
      }
      stop();
    }
  }

  const opened = new Set<string>(); // every ride id requested, answered or not: the clean-up ends each
  const known = (await gql<{ regions: { id: string; box: Box }[] }>(REGIONS, {}))?.regions;
  if (!known) throw new Error(`could not read the regions of ${options.url}: ${JSON.stringify(errors)}`);
  if (known.length < options.regions) throw new Error(`--regions ${options.regions}: the gateway has ${known.length} (${known.map((r) => r.id).join(', ')})`);
  const regions = known.slice(0, options.regions);
  log(`run ${run}: ${options.drivers} drivers, ${options.riders} riders in ${regions.map((r) => r.id).join(', ')} for ${options.seconds} s at ${options.speedKmh} km/h against ${options.url}`);
  const started = Date.now();
  await Promise.all(Array.from({ length: options.drivers }, async (_, i) => {
    const { box } = regions[i % regions.length];
    const driver: Driver = { id: `sim-${run}-d${i}`, box, position: randomIn(box), cruiseTo: randomIn(box), acting: false, sent: new Map() };
    if (await gql(GO_ONLINE, { driverId: driver.id, location: driver.position })) drivers.set(driver.id, driver);
  }));
  log(`${drivers.size} drivers online in ${Date.now() - started} ms`);
  if (drivers.size === 0) throw new Error(`no driver could go online at ${options.url}: ${JSON.stringify(errors)}`);

  const loops: Promise<void>[] = [positionsLoop()];
  // One socket per 50 riders (a gateway allows 100 subscriptions per socket).
  for (let i = 0; i < options.riders; i += 1) {
    if (i % 50 === 0) clients.push(createClient({
      url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 5,
      connectionParams: async () => ({ authorization: `Bearer ${await toolToken()}` }),
    }));
    const rider: Rider = { id: `sim-${run}-rider${i}`, box: regions[i % regions.length].box, requestedAt: 0 };
    riders.push(rider);
    loops.push(riderLoop(rider, clients.at(-1)!));
  }

  const running = Date.now();
  let lastLocations = 0;
  const progress = setInterval(() => {
    const onRide = [...drivers.values()].filter((d) => d.ride).length;
    const failed = Object.values(errors).reduce((a, b) => a + b, 0);
    log(`${Math.round((Date.now() - running) / 1000)}s · drivers ${drivers.size - onRide} free, ${onRide} on a ride · rides requested ${totals.requested}, ` +
      `assigned ${totals.assigned}, arrived ${totals.arrived}, completed ${totals.completed}, cancelled ${totals.cancelled} · ` +
      `locations ${totals.locations - lastLocations}/s · delivery p50 ${latency.totalCount ? latency.getValueAtPercentile(50) : '–'} ms · errors ${failed}`);
    lastLocations = totals.locations;
  }, 1000);
  await sleep(options.seconds * 1000);
  stopping = true;
  clearInterval(progress);
  await Promise.all(loops);
  await Promise.all(acting);
  const seconds = (Date.now() - running) / 1000;

  // Leave the city as found: every ride it opened ended, then drivers offline (a driver on a ride cannot go
  // offline). A ride's state is read back from the gateway, as a rider's view may lag behind it; counted apart.
  log(`ending ${opened.size} rides and taking ${drivers.size} drivers offline…`);
  const cleanupErrors: Record<string, number> = {};
  counting = cleanupErrors;
  let open = [...opened];
  for (let pass = 0; open.length && pass < 5; pass += 1) {
    const states = await Promise.all(open.map(async (id) => (await gql<{ ride: RideView | null }>(RIDE, { id }))?.ride));
    open = states.flatMap((ride) => (ride && !ENDED.has(ride.state) ? [ride] : [])).map((ride) => ride.id);
    await Promise.all(states.map((ride) => ride && !ENDED.has(ride.state) && gql(ride.state === 'IN_PROGRESS' ? COMPLETE_RIDE : CANCEL_RIDE, { rideId: ride.id })));
  }
  await Promise.all([...drivers.keys()].map((driverId) => gql(GO_OFFLINE, { driverId })));
  await Promise.all(clients.map((c) => c.dispose()));

  return {
    seconds,
    locationsSent: totals.locations,
    ridesRequested: totals.requested,
    ridesAssigned: totals.assigned,
    ridesArrived: totals.arrived,
    ridesCompleted: totals.completed,
    ridesCancelled: totals.cancelled,
    meanWaitToAssignmentMs: totals.assigned ? totals.waitAssign / totals.assigned : null,
    meanWaitToArrivalMs: totals.arrived ? totals.waitArrive / totals.arrived : null,
    locationLatency: { p50: latency.getValueAtPercentile(50), p99: latency.getValueAtPercentile(99), count: latency.totalCount },
    errors,
    cleanupErrors,
    regions: regions.map((r) => r.id),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sleeps up to `ms`, waking early once `done()` holds (checked every 50 ms). */
async function sleepUnless(ms: number, done: () => boolean) {
  const until = Date.now() + ms;
  while (Date.now() < until && !done()) await sleep(50);
}

/** The options from the command line; throws with the reason on a bad flag. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): SimulateOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      drivers: { type: 'string' }, riders: { type: 'string' }, seconds: { type: 'string' }, speed: { type: 'string' },
      'trip-km': { type: 'string' }, concurrency: { type: 'string' }, regions: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const number = (name: keyof typeof DEFAULTS, integer: boolean, min: number) => {
    const raw = values[name];
    if (raw === undefined) return DEFAULTS[name];
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} of at least ${min}, not "${raw}"`);
    }
    return value;
  };
  return {
    drivers: number('drivers', true, 1),
    riders: number('riders', true, 0),
    seconds: number('seconds', false, 1),
    speedKmh: number('speed', false, 1),
    tripKm: number('trip-km', false, 0.5),
    concurrency: number('concurrency', true, 1),
    url: env.GATEWAY_URL ?? 'http://localhost:4000/graphql',
    regions: number('regions', true, 1),
    log: (line) => console.log(`[simulate] ${line}`),
  };
}

export function formatResult(result: SimulationResult): string[] {
  const s = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);
  const failed = Object.entries(result.errors).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  return [
    `rides completed: ${result.ridesCompleted} (requested ${result.ridesRequested}, assigned ${result.ridesAssigned}, arrived ${result.ridesArrived}, cancelled ${result.ridesCancelled})`,
    `mean wait to assignment: ${s(result.meanWaitToAssignmentMs)} · mean wait to arrival: ${s(result.meanWaitToArrivalMs)}`,
    `location delivery to riders (updateDriverLocations sent → rideUpdated): p50 ${result.locationLatency.p50} ms, p99 ${result.locationLatency.p99} ms (${result.locationLatency.count} positions)`,
    `locations sent: ${result.locationsSent} (${(result.locationsSent / result.seconds).toFixed(0)}/s) in ${result.regions.join(', ')} · errors: ${failed}`,
    `clean-up errors: ${Object.entries(result.cleanupErrors).map(([code, n]) => `${code} ${n}`).join(', ') || 'none'}`,
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  let options: SimulateOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    console.log(USAGE);
    process.exit(0);
  }
  try {
    const result = await simulateRides(options);
    console.log();
    for (const line of formatResult(result)) console.log(line);
    process.exit(0);
  } catch (error) {
    console.error(`[simulate] failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
