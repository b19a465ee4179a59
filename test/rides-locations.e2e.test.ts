/**
 * `updateDriverLocations` through GraphQL against the whole system: batched positions written to driver-locations
 * and visible shortly after (queries, the driver's live feed, the dispatcher's arrival), a rejection per bad
 * position while the others are taken, last write wins by the driver's own `at` (an older position sent after a
 * newer one changes nothing, in the projection, the dispatcher or the live feed), and a call refused whole with
 * BAD_USER_INPUT before anything is written. Each test works in its own area, as test/rides.e2e.test.ts does.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOfKey, createBus, type Bus } from '../services/shared/bus.ts';
import { regionStateKey } from '../services/rides/config.ts';
import { ridesContract, TOPICS } from '../services/rides/contract.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { startSystem, tokenFor, waitFor, type TestSystem } from './support/system.ts';

const DRIVER = `id status location { lat lng } updatedAt`;
const GO_ONLINE = `mutation($id: ID!, $at: LocationInput!) { goOnline(driverId: $id, location: $at) { ${DRIVER} } }`;
const SEND = `mutation($locations: [DriverLocationInput!]!) { updateDriverLocations(locations: $locations) { accepted rejected { driverId code message } } }`;
const GET_DRIVER = `query($id: ID!) { driver(id: $id) { ${DRIVER} } }`;

interface Location { lat: number; lng: number }
interface Sent { driverId: string; location: Location; at: string }
let system: TestSystem;
let bus: Bus;
let nextArea = 0;
function area() {
  const centre = { lat: -10 - nextArea++ * 0.5, lng: 30 }; // away from test/rides.e2e.test.ts's areas, 55 km apart
  return { centre, north: (km: number): Location => ({ lat: centre.lat + km / 111.195, lng: centre.lng }) };
}
const uid = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
/** The areas above lie in a region of this file's own, besides the default three (services/rides/regions.ts). */
process.env.RIDE_REGIONS = 'berlin=52.40,13.20,52.62,13.60;hamburg=53.45,9.80,53.65,10.20;munich=48.06,11.40,48.25,11.75;tests-south=-40,25,-5,35';
/**
 * A time `ms` after now, as a driver's clock would say it: positions taken after going online (goOnline's own
 * position is timed by the gateway's clock when it took it), and at most 60 s ahead.
 */
const after = (ms: number) => new Date(Date.now() + ms).toISOString();

beforeAll(async () => {
  system = await startSystem();
  bus = await createBus({ clientId: 'rides-locations-test' });
}, 120_000);
afterAll(async () => {
  await bus?.close();
  await system?.stop();
});

async function ok<T = any>(query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const result = await system.gql(query, variables, token ? { token } : undefined);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return Object.values(result.data)[0] as T;
}
const goOnline = (id: string, at: Location) => ok(GO_ONLINE, { id, at });
const send = (locations: Sent[], token?: string) => ok<{ accepted: number; rejected: { driverId: string; code: string; message: string }[] }>(SEND, { locations }, token);
const locationOf = async (id: string) => (await system.gql(GET_DRIVER, { id })).data.driver?.location;
const visible = (id: string, location: Location) =>
  waitFor(async () => JSON.stringify(await locationOf(id)) === JSON.stringify(location), 20_000, () => `driver ${id} at ${JSON.stringify(location)}`);

/** The positions reported for a driver, as the log holds them. */
async function reportedOf(driverId: string) {
  return (await readTopic(bus, bus.topic(TOPICS.driverLocations))).map((m) => ridesContract.decode(m.value))
    .flatMap((e) => (e.kind === 'event' && e.type === 'DriverLocationReported' && e.aggregateId === driverId ? [e.data] : []));
}

/** Waits until the dispatcher and the projector have taken everything on the driver's partition of driver-locations so far. */
async function settled(_driverId: string): Promise<void> {
  const physical = bus.topic(TOPICS.driverLocations);
  // A driver's positions are placed on its region's partition; every area here is in tests-south.
  const partition = partitionOfKey(regionStateKey('tests-south'), await bus.partitionCount(physical));
  const high = BigInt((await bus.topicOffsets(physical)).find((p) => p.partition === partition)!.high);
  let seen = '';
  await waitFor(async () => {
    const projected = await system.prisma.projectionOffset.findUnique({ where: { projector_topic_partition: { projector: bus.prefix + 'driver-positions-projector', topic: physical, partition } } });
    const decided = (await bus.committedOffsets('dispatch', physical)).get(partition);
    seen = `projected ${projected?.nextOffset}, decided ${decided}, end ${high}`;
    return (projected?.nextOffset ?? 0n) >= high && (decided ?? 0n) >= high;
  }, 30_000, () => `driver-locations/${partition} taken by the dispatcher and the projector (${seen})`);
}

describe('updateDriverLocations', () => {
  it('takes a batch of positions of several drivers, visible to queries and live, and decides arrival from them', async () => {
    const { centre, north } = area();
    const [a, b] = [uid('a'), uid('b')];
    await goOnline(a, north(3));
    await goOnline(b, north(4));
    const feed = system.subscribe(`subscription($id: ID!) { driverLocation(driverId: $id) { location { lat lng } } }`, { id: a });
    try {
      await feed.received(1);
      const answer = await send([
        { driverId: a, location: north(2), at: after(1_000) },
        { driverId: b, location: north(3.5), at: after(1_000) },
        { driverId: a, location: north(1), at: after(2_000) },
      ]);
      expect(answer).toEqual({ accepted: 3, rejected: [] });
      await visible(a, north(1));
      await visible(b, north(3.5));
      await waitFor(() => JSON.stringify(feed.values.at(-1)?.driverLocation.location) === JSON.stringify(north(1)), 20_000, () => JSON.stringify(feed.values));
    } finally {
      await feed.close();
    }
    // A driver sends its own, with its own token; the dispatcher decides arrival from reported positions.
    const ride = await ok(`mutation($input: RequestRideInput!) { requestRide(input: $input) { id state driverId } }`, { input: { riderId: uid('rider'), pickup: centre, dropoff: north(5) } });
    expect(ride).toMatchObject({ state: 'DRIVER_ASSIGNED', driverId: a });
    expect(await send([{ driverId: a, location: north(0.02), at: after(3_000) }], await tokenFor(a, ['driver']))).toEqual({ accepted: 1, rejected: [] });
    await waitFor(async () => (await system.gql(`query($id: ID!) { ride(id: $id) { state } }`, { id: ride.id })).data.ride.state === 'DRIVER_ARRIVED', 20_000, () => 'the arrival');
  });

  it('refuses each bad position on its own (offline: FAILED_PRECONDITION, another driver: FORBIDDEN) and takes the others', async () => {
    const { north } = area();
    const [me, other, offline] = [uid('me'), uid('other'), uid('offline')];
    await goOnline(me, north(1));
    await goOnline(other, north(2));
    const token = await tokenFor(me, ['driver']);
    const answer = await send([
      { driverId: other, location: north(2.5), at: after(1_000) },
      { driverId: me, location: north(1.5), at: after(1_000) },
      { driverId: offline, location: north(3), at: after(1_000) },
    ], token);
    expect(answer.accepted).toBe(1);
    expect(answer.rejected.map(({ driverId, code }) => ({ driverId, code }))).toEqual([{ driverId: other, code: 'FORBIDDEN' }, { driverId: offline, code: 'FORBIDDEN' }]);
    expect(answer.rejected[0].message).toMatch(`set driverId to "${me}"`);
    // An admin may send any driver's; an offline one is refused, and the others still taken.
    const admin = await send([{ driverId: offline, location: north(3), at: after(1_000) }, { driverId: other, location: north(2.5), at: after(1_000) }]);
    expect(admin).toMatchObject({ accepted: 1, rejected: [{ driverId: offline, code: 'FAILED_PRECONDITION', message: expect.stringMatching(/offline: call goOnline/) }] });
    await visible(me, north(1.5));
    await visible(other, north(2.5));
    // Nothing refused was written.
    expect(await reportedOf(offline)).toEqual([]);
    expect((await reportedOf(other)).map((p) => p.location)).toEqual([north(2.5)]);
    // A user who is no driver is refused as a whole, whatever the ids.
    const rider = await system.gql(SEND, { locations: [{ driverId: me, location: north(1), at: after(1_000) }] }, { token: await tokenFor(me, ['rider']) });
    expect(rider.errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });

  it('never lets an older position replace a newer one, even when it arrives later', async () => {
    const { north } = area();
    const driver = uid('driver');
    await goOnline(driver, north(5));
    const feed = system.subscribe(`subscription($id: ID!) { driverLocation(driverId: $id) { location { lat lng } } }`, { id: driver });
    try {
      await feed.received(1);
      const [older, newer] = [after(1_000), after(2_000)];
      expect(await send([{ driverId: driver, location: north(1), at: newer }])).toEqual({ accepted: 1, rejected: [] });
      await visible(driver, north(1));
      // Accepted (it is the driver's and the driver is online), but older: it changes nothing.
      expect(await send([{ driverId: driver, location: north(2), at: older }])).toEqual({ accepted: 1, rejected: [] });
      await settled(driver);
      expect(await locationOf(driver)).toEqual(north(1));
      // The dispatcher kept the newest too, and said it again after the late one, so compaction keeps it.
      const log = (await readTopic(bus, bus.topic(TOPICS.driverLocations))).map((m) => ridesContract.decode(m.value)).filter((e) => e.aggregateId === driver);
      expect(log.slice(-2)).toMatchObject([
        { type: 'DriverLocationReported', data: { location: north(2), at: older } },
        { type: 'DriverMoved', data: { driverId: driver, location: north(1), at: newer } },
      ]);
      // Within one call too, newer first.
      expect(await send([{ driverId: driver, location: north(0.5), at: after(4_000) }, { driverId: driver, location: north(3), at: after(3_000) }])).toEqual({ accepted: 2, rejected: [] });
      await settled(driver);
      expect(await locationOf(driver)).toEqual(north(0.5));
      // The live feed skipped the late ones: once it shows a newer position sent after them, it never showed them.
      expect(await send([{ driverId: driver, location: north(0.25), at: after(5_000) }])).toEqual({ accepted: 1, rejected: [] });
      const latest = () => feed.values.at(-1)?.driverLocation.location;
      await waitFor(() => JSON.stringify(latest()) === JSON.stringify(north(0.25)), 20_000, () => JSON.stringify(feed.values));
      const live = feed.values.map((v) => JSON.stringify(v.driverLocation.location));
      expect(live).not.toContain(JSON.stringify(north(2)));
      // Positions of one call go out oldest first: north(3), taken before north(0.5), may show, but never after it.
      const [taken3, taken4] = [live.lastIndexOf(JSON.stringify(north(3))), live.indexOf(JSON.stringify(north(0.5)))];
      expect(taken4).toBeGreaterThan(taken3);
    } finally {
      await feed.close();
    }
  });

  it('refuses a whole call with BAD_USER_INPUT before writing anything: 101 positions, a bad location, a bad time', async () => {
    const { north } = area();
    const driver = uid('driver');
    await goOnline(driver, north(1));
    const position = (i: number): Sent => ({ driverId: driver, location: north(i / 1000), at: after(1_000) });
    const tooMany = await system.gql(SEND, { locations: Array.from({ length: 101 }, (_, i) => position(i)) });
    expect(tooMany.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'locations', limit: 'maxItems', max: 100 });
    const badLocation = await system.gql(SEND, { locations: [position(1), { ...position(2), location: { lat: 91, lng: 0 } }] });
    expect(badLocation.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'locations[1].location.lat' });
    for (const [at, limit] of [[new Date(Date.now() + 5 * 60_000).toISOString(), 'max'], [after(-2 * 86_400_000), 'min'], ['yesterday', 'format']]) {
      const result = await system.gql(SEND, { locations: [position(3), { ...position(4), at }] });
      expect(result.errors?.[0].extensions, at).toMatchObject({ code: 'BAD_USER_INPUT', field: 'locations[1].at', limit });
    }
    // 100 are taken, and only those.
    expect(await send(Array.from({ length: 100 }, (_, i) => position(500 + i)))).toEqual({ accepted: 100, rejected: [] });
    await visible(driver, north(0.599));
    const reported = await reportedOf(driver);
    expect(reported).toHaveLength(100);
    expect(reported.map((p) => p.location)).toEqual(Array.from({ length: 100 }, (_, i) => north((500 + i) / 1000)));
  });
});
