/**
 * Dispatch by region on two instances: two `dispatch` processes share the three default regions (Berlin, Hamburg,
 * Munich), riders wait in each, drivers come online in a burst while positions stream in batches, and one instance
 * is killed with SIGKILL mid-burst. Its regions move to the survivor, which restores them from the log. Then, from
 * the log and the projection: no ride assigned twice, no driver given two rides, a driver only to a ride of its own
 * region, every driver assigned and every ride present (assigned, or still waiting, oldest first per region).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTopic } from '../scripts/topic-reader.ts';
import { ridesContract, TOPICS } from '../services/rides/contract.ts';
import { DEFAULT_REGIONS } from '../services/rides/regions.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const DRIVERS_PER_REGION = 8;
const RIDES_PER_REGION = 14;
const REQUEST = `mutation($input: RequestRideInput!) { requestRide(input: $input) { id state } }`;
const GO_ONLINE = `mutation($id: ID!, $at: LocationInput!) { goOnline(driverId: $id, location: $at) { id } }`;
const SEND = `mutation($locations: [DriverLocationInput!]!) { updateDriverLocations(locations: $locations) { accepted } }`;

let system: TestSystem;
let bus: Bus;
const children: { child: ChildProcess; lines: string[] }[] = [];

function spawnDispatch() {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'services/main.ts'), 'dispatch'], {
    cwd: root, env: { ...process.env, ...system.isolation.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance = { child, lines: [] as string[] };
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => instance.lines.push(...chunk.split('\n').filter(Boolean)));
  }
  children.push(instance);
  return instance;
}

/** The partitions an instance was last assigned, from its log. */
const assignedOf = (lines: string[]) => lines.filter((l) => l.includes('assigned partition(s):')).at(-1)?.replace(/.*assigned partition\(s\): ([^{]*).*/, '$1').trim();

beforeAll(async () => {
  delete process.env.RIDE_REGIONS; // the defaults: Berlin, Hamburg, Munich
  system = await startSystem({ commandTimeoutMs: 30_000 });
  bus = await createBus({ clientId: 'regions-test' });
  await system.stopService('dispatch');
}, 120_000);
afterAll(async () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await bus?.close();
  await system?.stop();
});

it('two dispatchers share the regions; one killed with SIGKILL mid-burst: its regions move, no ride assigned twice or lost', async () => {
  const run = randomUUID().slice(0, 6);
  const centre = (r: (typeof DEFAULT_REGIONS)[number]) => ({ lat: (r.south + r.north) / 2, lng: (r.west + r.east) / 2 });
  const near = (r: (typeof DEFAULT_REGIONS)[number], km: number) => ({ lat: centre(r).lat + km / 111.195, lng: centre(r).lng });
  const victim = spawnDispatch();
  const survivor = spawnDispatch();
  await waitFor(() => [victim, survivor].every(({ lines }) => /^\d/.test(assignedOf(lines) ?? '')), 90_000,
    () => `both instances assigned partitions (${children.map(({ lines }) => assignedOf(lines)).join(' / ')})`);
  // The regions are shared: region i is placed on partition i (0, 1, 2), and each instance holds one of those.
  for (const { lines } of [victim, survivor]) expect(assignedOf(lines)!.split(', ').map(Number).some((p) => p < DEFAULT_REGIONS.length)).toBe(true);

  // Riders first, nobody in range: every ride waits in its region.
  const rides = DEFAULT_REGIONS.flatMap((region) => Array.from({ length: RIDES_PER_REGION }, (_, i) => ({ region: region.id, id: `reg-${run}-${region.id}-r${String(i).padStart(2, '0')}`, pickup: centre(region) })));
  for (const ride of rides) {
    const { errors } = await system.gql(REQUEST, { input: { id: ride.id, riderId: `rider-${ride.id}`, pickup: ride.pickup, dropoff: ride.pickup } });
    expect(errors, JSON.stringify(errors)).toBeUndefined();
  }
  const drivers = DEFAULT_REGIONS.flatMap((region) => Array.from({ length: DRIVERS_PER_REGION }, (_, i) => ({ region: region.id, id: `reg-${run}-${region.id}-d${i}`, at: near(region, 0.5 + i * 0.2) })));
  const assigned = () => system.prisma.ride.count({ where: { id: { in: rides.map((r) => r.id) }, state: 'DRIVER_ASSIGNED' } });

  // Positions stream meanwhile, in batches, for the drivers online so far.
  const online: typeof drivers = [];
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      const locations = online.map(({ id, at }) => ({ driverId: id, location: at, at: new Date().toISOString() }));
      for (let i = 0; i < locations.length; i += 100) await system.gql(SEND, { locations: locations.slice(i, i + 100) });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const goOnline = async (driver: (typeof drivers)[number]) => {
    const { errors } = await system.gql(GO_ONLINE, { id: driver.id, at: driver.at });
    expect(errors, JSON.stringify(errors)).toBeUndefined();
    online.push(driver);
  };
  // A few one by one in each region, then the rest in a burst, and one instance is killed while it assigns them.
  for (const driver of drivers.filter((_, i) => i % DRIVERS_PER_REGION < 2)) await goOnline(driver);
  await waitFor(async () => (await assigned()) === 6, 60_000, () => 'the first drivers assigned');
  const burst = Promise.all(drivers.filter((_, i) => i % DRIVERS_PER_REGION >= 2).map(goOnline));
  await waitFor(async () => (await assigned()) >= 9, 60_000, () => 'the burst being assigned');
  const exited = new Promise((r) => victim.child.once('exit', r));
  victim.child.kill('SIGKILL');
  await exited;
  console.log(`dispatch killed with ${await assigned()}/${drivers.length} assignments projected; it held ${assignedOf(victim.lines)}, the survivor ${assignedOf(survivor.lines)}`);
  await burst;
  await waitFor(async () => (await assigned()) === drivers.length &&
    (await system.prisma.driver.count({ where: { id: { in: drivers.map((d) => d.id) }, status: 'ON_RIDE' } })) === drivers.length,
  120_000, () => 'every driver assigned after the kill');
  streaming = false;
  await stream;
  // The survivor takes the victim's partitions once its session expires (it may have assigned its rides before that).
  await waitFor(() => assignedOf(survivor.lines) === '0, 1, 2, 3, 4, 5', 60_000, () => `the survivor holding every partition (${assignedOf(survivor.lines)})`);

  // The log: each driver given one ride of its own region, each ride at most one driver.
  const regionOf = new Map([...rides, ...drivers].map((x) => [x.id, x.region]));
  const events = (await readTopic(bus, bus.topic(TOPICS.rideEvents))).map((m) => ridesContract.decode(m.value))
    .filter((e) => e.kind === 'event' && e.type === 'DriverAssigned' && regionOf.has(e.aggregateId));
  const ridesOf = new Map<string, Set<string>>();
  const driversOf = new Map<string, string[]>();
  for (const e of events) {
    if (e.type !== 'DriverAssigned') continue;
    expect(regionOf.get(e.data.driverId)).toBe(regionOf.get(e.data.rideId));
    expect(e.data.region).toBe(regionOf.get(e.data.rideId));
    ridesOf.set(e.data.driverId, (ridesOf.get(e.data.driverId) ?? new Set()).add(e.data.rideId));
    driversOf.set(e.data.rideId, [...(driversOf.get(e.data.rideId) ?? []), e.data.driverId]);
  }
  expect([...ridesOf.keys()].sort()).toEqual(drivers.map((d) => d.id).sort());
  expect([...ridesOf.values()].every((s) => s.size === 1)).toBe(true);
  expect([...driversOf.values()].every((list) => new Set(list).size === 1)).toBe(true); // a copy of one decision at most
  // The projection: every ride present; per region the oldest ones assigned, the rest waiting.
  for (const region of DEFAULT_REGIONS) {
    const rows = await system.prisma.ride.findMany({ where: { id: { in: rides.filter((r) => r.region === region.id).map((r) => r.id) } }, orderBy: { requestedAt: 'asc' } });
    expect(rows.map((r) => r.state)).toEqual([...Array(DRIVERS_PER_REGION).fill('DRIVER_ASSIGNED'), ...Array(RIDES_PER_REGION - DRIVERS_PER_REGION).fill('REQUESTED')]);
  }
}, 300_000);
