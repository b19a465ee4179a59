/**
 * Rides through GraphQL against the whole system: drivers online and moving, rides requested and dispatched to
 * the nearest available driver, arrival from the location stream, the lifecycle, the rider's live view, the
 * clock's timeout, and a dispatcher killed with SIGKILL mid-assignment that never gives one driver two rides.
 * Each test works in its own area, more than 10 km from every other, so the shared city never mixes them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { clockTicked, ridesContract, TOPICS } from '../services/rides/contract.ts';
import { distanceKm } from '../services/rides/geo.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { startSystem, tokenFor, waitFor, type TestSystem } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const RIDE = `id riderId driverId state pickup { lat lng } dropoff { lat lng } driverLocation { lat lng } requestedAt updatedAt`;
const DRIVER = `id status location { lat lng } updatedAt`;
const GO_ONLINE = `mutation($id: ID!, $at: LocationInput!) { goOnline(driverId: $id, location: $at) { ${DRIVER} } }`;
const MOVE = `mutation($id: ID!, $at: LocationInput!) { updateDriverLocation(driverId: $id, location: $at) { ${DRIVER} } }`;
const REQUEST = `mutation($input: RequestRideInput!) { requestRide(input: $input) { ${RIDE} } }`;
const GET_RIDE = `query($id: ID!) { ride(id: $id) { ${RIDE} } }`;
const transition = (name: string) => `mutation($id: ID!) { ${name}(rideId: $id) { ${RIDE} } }`;

interface Location { lat: number; lng: number }
let system: TestSystem;
let bus: Bus;
let nextArea = 0;
/** A fresh area: its centre, and a point `km` north of it. */
function area() {
  const centre = { lat: 10 + nextArea++ * 0.5, lng: 20 }; // 0.5° of latitude: about 55 km apart
  return { centre, north: (km: number): Location => ({ lat: centre.lat + km / 111.195, lng: centre.lng }) };
}
const uid = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
/** The areas above lie in a region of this file's own, besides the default three (services/rides/regions.ts). */
const TEST_REGION = 'tests';
process.env.RIDE_REGIONS = `berlin=52.40,13.20,52.62,13.60;hamburg=53.45,9.80,53.65,10.20;munich=48.06,11.40,48.25,11.75;${TEST_REGION}=5,15,40,25`;

beforeAll(async () => {
  system = await startSystem();
  bus = await createBus({ clientId: 'rides-test' });
}, 120_000);
afterAll(async () => {
  await bus?.close();
  await system?.stop();
});

async function ok<T = any>(query: string, variables: Record<string, unknown>): Promise<T> {
  const result = await system.gql(query, variables);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return Object.values(result.data)[0] as T;
}
const goOnline = (id: string, at: Location) => ok(GO_ONLINE, { id, at });
const requestRide = (pickup: Location, id = uid('ride')) => ok(REQUEST, { input: { id, riderId: uid('rider'), pickup, dropoff: pickup } });
const getRide = async (id: string) => (await system.gql(GET_RIDE, { id })).data.ride;

describe('dispatch', () => {
  it('assigns the nearest available driver within 10 km, ties by id, visible in the answer', async () => {
    const { centre, north } = area();
    const [far, b, a, beyond] = [uid('far'), `b-${uid('tie')}`, `a-${uid('tie')}`, uid('beyond')];
    await goOnline(far, north(3));
    await goOnline(b, north(1));
    await goOnline(a, { lat: centre.lat - 1 / 111.195, lng: centre.lng }); // 1 km south: the same distance
    await goOnline(beyond, north(10.5));
    const ride = await requestRide(centre);
    expect(ride).toMatchObject({ state: 'DRIVER_ASSIGNED', driverId: a });
    expect((await ok(`query($id: ID!) { driver(id: $id) { ${DRIVER} } }`, { id: a })).status).toBe('ON_RIDE');
    const near = await ok(`query($at: LocationInput!) { driversNear(location: $at, radiusKm: 5) { id } }`, { at: centre });
    expect(near.map((d: { id: string }) => d.id)).toEqual([b, far]);
  });

  it('never gives one driver to two concurrent requests: one waits, then gets the next driver online', async () => {
    const { centre, north } = area();
    const only = uid('only');
    await goOnline(only, north(1));
    const rides = await Promise.all([requestRide(centre), requestRide(north(0.5))]);
    expect(rides.map((r) => r.state).sort()).toEqual(['DRIVER_ASSIGNED', 'REQUESTED']);
    const waiting = rides.find((r) => r.state === 'REQUESTED');
    const next = uid('next');
    await goOnline(next, north(2));
    expect(await getRide(waiting.id)).toMatchObject({ state: 'DRIVER_ASSIGNED', driverId: next });
  });

  it('never dispatches an offline driver or one already on a ride', async () => {
    const { centre, north } = area();
    const gone = uid('gone');
    await goOnline(gone, north(0.2));
    await ok(`mutation($id: ID!) { goOffline(driverId: $id) { ${DRIVER} } }`, { id: gone });
    const busy = uid('busy');
    await goOnline(busy, north(0.3));
    expect(await requestRide(centre)).toMatchObject({ state: 'DRIVER_ASSIGNED', driverId: busy });
    expect(await requestRide(centre)).toMatchObject({ state: 'REQUESTED', driverId: null });
  });

  it('refuses a pickup outside every region with BAD_USER_INPUT naming the regions, before anything is written', async () => {
    const id = uid('nowhere');
    const result = await system.gql(REQUEST, { input: { id, riderId: uid('rider'), pickup: { lat: -45, lng: 100 }, dropoff: { lat: -45, lng: 100 } } });
    expect(result.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0].message).toMatch(/outside every region .*berlin \(52\.4–52\.62 N, 13\.2–13\.6 E\), hamburg .*munich .*tests/);
    expect(await system.prisma.ride.findUnique({ where: { id } })).toBeNull();
    const { data } = await system.gql(`{ regions { id box { south west north east } } }`);
    expect(data.regions.map((r: { id: string }) => r.id)).toEqual(['berlin', 'hamburg', 'munich', TEST_REGION]);
    expect(data.regions[0].box).toEqual({ south: 52.4, west: 13.2, north: 52.62, east: 13.6 });
  });

  it('requests idempotently by id, and refuses the id for another trip', async () => {
    const { centre, north } = area();
    const id = uid('ride');
    const first = await requestRide(centre, id);
    const input = { id, riderId: first.riderId, pickup: centre, dropoff: centre };
    expect(await ok(REQUEST, { input })).toMatchObject({ id, requestedAt: first.requestedAt });
    const other = await system.gql(REQUEST, { input: { ...input, dropoff: north(3) } });
    expect(other.errors?.[0].extensions?.code).toBe('RIDE_ID_CONFLICT');
    // Another rider trying the id gets the very same answer: nothing says whose it is or what it holds.
    const stranger = await system.gql(REQUEST, { input: { ...input, riderId: 'rider-stranger' } }, { token: await tokenFor('rider-stranger', ['rider']) });
    const answer = (errors: typeof other.errors) => errors?.map(({ extensions: { commandId: _, ...extensions } = {}, ...error }) => ({ ...error, extensions }));
    expect(answer(stranger.errors)).toEqual(answer(other.errors));
  });
});

describe('the lifecycle', () => {
  it('detects arrival from locations, then starts and completes, freeing the driver', async () => {
    const { centre, north } = area();
    const driver = uid('driver');
    await goOnline(driver, north(1));
    const ride = await requestRide(centre);
    expect(ride.driverLocation).toEqual(north(1));
    expect((await ok(MOVE, { id: driver, at: north(0.1) })).status).toBe('ON_RIDE');
    expect((await getRide(ride.id)).state).toBe('DRIVER_ASSIGNED');
    expect((await ok(MOVE, { id: driver, at: north(0.03) })).location).toEqual(north(0.03));
    // A position is answered once accepted (the high-rate stream), so the arrival, and the position on its own
    // topic, are seen shortly after.
    let seen: any;
    await waitFor(async () => {
      seen = await getRide(ride.id);
      return seen.state === 'DRIVER_ARRIVED' && JSON.stringify(seen.driverLocation) === JSON.stringify(north(0.03));
    }, 20_000, () => `the arrival at the pickup, last seen ${JSON.stringify(seen)}`);
    expect(await ok(transition('startRide'), { id: ride.id })).toMatchObject({ state: 'IN_PROGRESS' });
    expect(await ok(transition('completeRide'), { id: ride.id })).toMatchObject({ state: 'COMPLETED', driverLocation: null });
    expect((await ok(`query($id: ID!) { driver(id: $id) { ${DRIVER} } }`, { id: driver })).status).toBe('AVAILABLE');
  });

  it('refuses illegal transitions with the current state, unknown rides, offline locations and out-of-range coordinates', async () => {
    const { centre } = area();
    const ride = await requestRide(centre); // nobody here: REQUESTED
    for (const name of ['startRide', 'completeRide']) {
      const result = await system.gql(transition(name), { id: ride.id });
      expect(result.errors?.[0].extensions, name).toMatchObject({ code: 'FAILED_PRECONDITION', state: 'REQUESTED' });
    }
    await ok(transition('cancelRide'), { id: ride.id });
    expect((await system.gql(transition('cancelRide'), { id: ride.id })).errors?.[0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION', state: 'CANCELLED' });
    for (const id of [uid('unknown'), 'constructor']) {
      expect((await system.gql(transition('startRide'), { id })).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    }
    const offline = await system.gql(MOVE, { id: uid('offline'), at: centre });
    expect(offline.errors?.[0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION', state: 'OFFLINE' });
    for (const at of [{ lat: 90.5, lng: 0 }, { lat: -91, lng: 0 }, { lat: 0, lng: 180.1 }, { lat: 0, lng: -181 }]) {
      const result = await system.gql(GO_ONLINE, { id: uid('d'), at });
      expect(result.errors?.[0].extensions, JSON.stringify(at)).toMatchObject({ code: 'BAD_USER_INPUT', field: at.lat === 0 ? 'location.lng' : 'location.lat' });
      const request = await system.gql(REQUEST, { input: { riderId: 'r', pickup: at, dropoff: centre } });
      expect(request.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    }
  });
});

describe('live', () => {
  it("shows a rider every state of its ride in order, and its driver approaching", async () => {
    const { centre, north } = area();
    const rideId = uid('ride');
    const updates = system.subscribe(`subscription($id: ID!) { rideUpdated(rideId: $id) { state driverId driverLocation { lat lng } } }`, { id: rideId });
    const driver = uid('driver');
    const driverFeed = system.subscribe(`subscription($id: ID!) { driverLocation(driverId: $id) { status location { lat lng } } }`, { id: driver });
    try {
      await requestRide(centre, rideId); // nobody in range yet
      await waitFor(() => updates.values.length >= 1, 20_000, () => JSON.stringify(updates.values));
      await goOnline(driver, north(2)); // takes the waiting ride
      for (const km of [1.5, 1, 0.5, 0.2, 0.04]) await ok(MOVE, { id: driver, at: north(km) }); // the last one arrives
      await ok(transition('startRide'), { id: rideId });
      await ok(MOVE, { id: driver, at: north(-1) });
      await ok(transition('completeRide'), { id: rideId });
      await waitFor(() => updates.values.at(-1)?.rideUpdated.state === 'COMPLETED', 20_000, () => JSON.stringify(updates.values));
      const seen = updates.values.map((v) => v.rideUpdated);
      const states = seen.map((r) => r.state).filter((s, i, all) => s !== all[i - 1]);
      expect(states).toEqual(['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
      // Approaching: the distance to the pickup only shrinks until arrival (conflated maybe, never reordered).
      const approach = seen.filter((r) => r.state === 'DRIVER_ASSIGNED').map((r) => distanceKm(r.driverLocation, centre));
      expect(approach.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < approach.length; i += 1) expect(approach[i]).toBeLessThan(approach[i - 1]);
      expect(seen.find((r) => r.state === 'DRIVER_ARRIVED').driverLocation).toEqual(north(0.04));
      expect(seen.at(-1).driverLocation).toBeNull();
      expect(seen.every((r) => r.state === 'REQUESTED' || r.driverId === driver)).toBe(true);
      await waitFor(() => driverFeed.values.at(-1)?.driverLocation.status === 'AVAILABLE', 20_000, () => JSON.stringify(driverFeed.values));
      const positions = driverFeed.values.map((v) => v.driverLocation.location).filter(Boolean);
      expect(positions.at(-1)).toEqual(north(-1));
    } finally {
      await updates.close();
      await driverFeed.close();
    }
  });
});

describe('a dispatcher killed with SIGKILL mid-assignment', () => {
  const spawnDispatch = (): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', resolve(root, 'services/main.ts'), 'dispatch'], {
      cwd: root, env: { ...process.env, ...system.isolation.env }, stdio: 'ignore',
    });

  it('never assigns one driver to two rides, and leaves every ride in one consistent state', async () => {
    const { centre, north } = area();
    const DRIVERS = 20;
    const RIDES = 40;
    const drivers = Array.from({ length: DRIVERS }, (_, i) => `k${String(i).padStart(2, '0')}-${uid('driver')}`);
    const rideIds = Array.from({ length: RIDES }, () => uid('ride'));
    const assignedCount = () => system.prisma.ride.count({ where: { id: { in: rideIds }, state: 'DRIVER_ASSIGNED' } });
    await system.stopService('dispatch');
    let child = spawnDispatch();
    try {
      // Riders first, nobody in range: every ride waits.
      const start = Date.now();
      await Promise.all(rideIds.map((rideId, i) => bus.publish([ridesContract.outgoing(ridesContract.command({
        type: 'RequestRide',
        data: { rideId, riderId: uid('rider'), pickup: centre, dropoff: north(5), requestedAt: new Date(start + i).toISOString(), expiresAt: new Date(start + 3_600_000).toISOString() },
      }))])));
      await waitFor(async () => (await system.prisma.ride.count({ where: { id: { in: rideIds } } })) === RIDES, 60_000, () => 'every ride requested');
      // Drivers come online: a few one by one, then the rest in a burst, and the dispatcher is killed while it assigns them.
      const online = (id: string, i: number) => bus.publish([ridesContract.outgoing(ridesContract.command({ type: 'GoOnline', data: { driverId: id, location: north(0.5 + i * 0.1) } }))]);
      for (const [i, id] of drivers.slice(0, 4).entries()) {
        await online(id, i);
        await waitFor(async () => (await assignedCount()) > i, 60_000, () => `driver ${i} assigned`);
      }
      const burst = Promise.all(drivers.slice(4).map((id, i) => online(id, i + 4)));
      await waitFor(async () => (await assignedCount()) >= 6, 60_000, () => 'the burst being assigned');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      console.log(`dispatch killed with ${await assignedCount()}/${DRIVERS} assignments projected`);
      await burst;
      child = spawnDispatch();
      await waitFor(async () => (await assignedCount()) === DRIVERS &&
        (await system.prisma.driver.count({ where: { id: { in: drivers }, status: 'ON_RIDE' } })) === DRIVERS, 90_000, () => 'every driver assigned after the restart');

      // The log: each driver given one ride (none ended), each ride at most one driver.
      const events = (await readTopic(bus, bus.topic(TOPICS.rideEvents))).map((m) => ridesContract.decode(m.value))
        .filter((e) => e.kind === 'event' && rideIds.includes(e.aggregateId));
      const ridesOf = new Map<string, Set<string>>();
      const driversOf = new Map<string, Set<string>>();
      for (const e of events) {
        if (e.type !== 'DriverAssigned') continue;
        ridesOf.set(e.data.driverId, (ridesOf.get(e.data.driverId) ?? new Set()).add(e.data.rideId));
        driversOf.set(e.data.rideId, (driversOf.get(e.data.rideId) ?? new Set()).add(e.data.driverId));
      }
      expect([...ridesOf.keys()].sort()).toEqual(drivers);
      expect([...ridesOf.values()].every((s) => s.size === 1)).toBe(true);
      expect([...driversOf.values()].every((s) => s.size === 1)).toBe(true);
      // The projection agrees: the oldest 20 rides on 20 distinct drivers, every other ride waiting.
      const rows = await system.prisma.ride.findMany({ where: { id: { in: rideIds } }, orderBy: { requestedAt: 'asc' } });
      expect(rows.map((r) => r.state)).toEqual([...Array(DRIVERS).fill('DRIVER_ASSIGNED'), ...Array(RIDES - DRIVERS).fill('REQUESTED')]);
      for (const r of rows.slice(0, DRIVERS)) expect([...driversOf.get(r.id)!]).toEqual([r.driverId]);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await system.startService('dispatch');
    }
  }, 240_000);
});

describe('the clock', () => {
  // Last: the tick it publishes is two minutes ahead, and cancels every ride still waiting.
  it('cancels a ride nobody took once a published ClockTicked reaches its expiry', async () => {
    const { centre } = area();
    const ride = await requestRide(centre);
    expect(ride.state).toBe('REQUESTED');
    await bus.publish([clockTicked(new Date(Date.now() + 60_000), TEST_REGION)]); // before its expiry: nothing
    await bus.publish([clockTicked(new Date(Date.now() + 121_000), TEST_REGION)]);
    await waitFor(async () => (await getRide(ride.id)).state === 'CANCELLED', 20_000, () => 'the ride cancelled by the clock');
    const events = (await readTopic(bus, bus.topic(TOPICS.rideEvents))).map((m) => ridesContract.decode(m.value));
    expect(events.filter((e) => e.aggregateId === ride.id && e.type === 'RideCancelled').map((e) => e.data))
      .toEqual([{ rideId: ride.id, driverId: null, reason: 'timeout', region: TEST_REGION }]);
  });
});
