/**
 * The log as an API, on orders (issue 22): an order's history from the runtime's event index, its state as of any
 * moment folded from that history, and orderUpdated resumed from a cursor over graphql-ws, on a gateway that never
 * saw the order (as after a restart), with every change since the cursor once and in order, then the live ones.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { startSystem, tokenFor, waitFor, type TestSystem } from './support/system.ts';

let system: TestSystem;
let alice: string;
let bob: string;
const extraGateways: RunningGateway[] = [];

beforeAll(async () => {
  system = await startSystem({ commandTimeoutMs: 30_000 });
  [alice, bob] = await Promise.all([tokenFor('alice', ['customer']), tokenFor('bob', ['customer'])]);
});
afterAll(async () => {
  await Promise.allSettled(extraGateways.map((g) => g.stop()));
  await system?.stop();
});

const EVENT = 'position type occurredAt commandId actor { sub roles } data';
const HISTORY = `query($id: ID!, $first: Int, $after: String) {
  order(id: $id) { cursor history(first: $first, after: $after) { edges { cursor node { ${EVENT} } } pageInfo { hasNextPage endCursor } } }
}`;
const STATE = 'id customerId product quantity price currency state createdAt updatedAt validations { checkType result reason }';

async function stock(product: string, quantity: number) {
  const added = await system.gql(`mutation($p: String!, $q: Int!) { addInventory(product: $p, quantity: $q) { stock } }`, { p: product, q: quantity });
  expect(added.errors).toBeUndefined();
}

/** Places an order as `token` (admin by default) and waits until it is VALIDATED or FAILED. */
async function settledOrder(customerId: string, token?: string) {
  const product = `SOCKS-${randomUUID().slice(0, 6)}`;
  await stock(product, 10);
  const id = `order-${randomUUID()}`;
  const placed = await system.gql(`mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`, { input: { id, customerId, product, quantity: 1, price: 2.5 } }, token ? { token } : undefined);
  expect(placed.errors).toBeUndefined();
  const settled = await system.gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state } }`, { id }, token ? { token } : undefined);
  expect(settled.data.awaitOrder.state).toBe('VALIDATED');
  return id;
}

/** The whole history once the index holds its terminal event (indexing runs beside the orders projection). */
async function historyOf(id: string, token?: string) {
  let events: any[] = [];
  await waitFor(async () => {
    const result = await system.gql(HISTORY, { id, first: 100 }, token ? { token } : undefined);
    events = result.data?.order?.history.edges.map((e: any) => e.node) ?? [];
    return events.at(-1)?.type === 'OrderValidated';
  }, 20_000, () => `the history of ${id} to end with OrderValidated: ${JSON.stringify(events.map((e) => e.type))}`);
  return events;
}

describe('Order.history', () => {
  it('tells how an order came to be, oldest first, in pages, each event naming the command that started it', async () => {
    const id = await settledOrder('alice');
    const events = await historyOf(id);
    expect(events[0]).toMatchObject({ type: 'OrderCreated', data: { orderId: id, customerId: 'alice', quantity: 1, price: 2.5, currency: 'EUR' } });
    expect(events.slice(1, 4).map((e) => e.type)).toEqual(['OrderCheckCompleted', 'OrderCheckCompleted', 'OrderCheckCompleted']);
    expect(new Set(events.slice(1, 4).map((e) => e.data.checkType))).toEqual(new Set(['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK']));
    expect(events.at(-1)).toMatchObject({ type: 'OrderValidated' });
    expect(events).toHaveLength(5);
    const times = events.map((e) => Date.parse(e.occurredAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // One PlaceOrder started all of it.
    expect(new Set(events.map((e) => e.commandId)).size).toBe(1);
    expect(events[0].commandId).toEqual(expect.any(String));

    // Two pages of two and one of one give the same events; the last page says there is no next.
    const pages: any[] = [];
    let after: string | null = null;
    for (let page = 0; page < 3; page += 1) {
      const result: any = await system.gql(HISTORY, { id, first: 2, after });
      const { edges, pageInfo }: { edges: any[]; pageInfo: any } = result.data.order.history;
      pages.push(...edges.map((e: any) => e.node));
      expect(pageInfo.hasNextPage).toBe(page < 2);
      expect(edges.at(-1).cursor).toBe(pageInfo.endCursor);
      after = pageInfo.endCursor;
    }
    expect(pages).toEqual(events);
    // The order's cursor is its latest event's position.
    expect((await system.gql(HISTORY, { id, first: 1 })).data.order.cursor).toBe(events.at(-1).position);
  });

  it('is authorized like its order: a customer reads only its own; the actor shows to admins and the actor itself', async () => {
    const own = await settledOrder('alice', alice);
    const placedByAdmin = await settledOrder('alice');
    const mine = await historyOf(own, alice);
    expect(mine[0].actor).toEqual({ sub: 'alice', roles: ['customer'] });
    // Placed for alice by an admin: alice sees the events, not who sent the command.
    const forMe = await historyOf(placedByAdmin, alice);
    expect(forMe.every((e) => e.actor === null)).toBe(true);
    expect((await historyOf(placedByAdmin))[0].actor).toMatchObject({ sub: 'admin', roles: ['admin'] });
    // Another customer's order is not there at all, nor its history.
    const bobs = await system.gql(HISTORY, { id: own, first: 5 }, { token: bob });
    expect(bobs.errors).toBeUndefined();
    expect(bobs.data.order).toBeNull();
  });

  it('refuses a malformed cursor and another order\'s cursor with BAD_USER_INPUT', async () => {
    const [first, second] = await Promise.all([settledOrder('alice'), settledOrder('alice')]);
    const foreign = (await historyOf(second))[0].position;
    await historyOf(first);
    for (const after of ['not-a-cursor', Buffer.from('[1,2]').toString('base64url'), foreign]) {
      const result = await system.gql(HISTORY, { id: first, first: 2, after });
      expect(result.errors?.[0]?.extensions?.code, after).toBe('BAD_USER_INPUT');
    }
    // An asOf that names no moment, as a literal and as a variable.
    const literal = await system.gql(`query { order(id: "${first}", asOf: "not a date") { id } }`);
    const variable = await system.gql(`query($at: DateTime) { order(id: "${first}", asOf: $at) { id } }`, { at: 'not a date' });
    for (const result of [literal, variable]) expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('order(asOf)', () => {
  it('is the order as it was at every event boundary of its history, null before it existed', async () => {
    const id = await settledOrder('alice');
    const events = await historyOf(id);
    const asOf = async (at: string) => (await system.gql(`query($id: ID!, $at: DateTime) { order(id: $id, asOf: $at) { ${STATE} cursor } }`, { id, at })).data.order;
    expect(await asOf(new Date(Date.parse(events[0].occurredAt) - 1).toISOString())).toBeNull();
    for (const event of events) {
      const at = Date.parse(event.occurredAt);
      // Every event that occurred by then, and none after (events of one millisecond count together).
      const happened = events.filter((e) => Date.parse(e.occurredAt) <= at);
      const verdicts = happened.filter((e) => e.type === 'OrderCheckCompleted').map((e) => e.data.checkType);
      const then = await asOf(event.occurredAt);
      expect(then, event.type).toMatchObject({ id, state: happened.some((e) => e.type === 'OrderValidated') ? 'VALIDATED' : 'CREATED', cursor: happened.at(-1).position });
      expect(then.validations.map((v: { checkType: string }) => v.checkType).sort()).toEqual([...verdicts].sort());
    }
    // The latest moment is what the projection shows now, field for field.
    const now = (await system.gql(`query($id: ID!) { order(id: $id) { ${STATE} cursor } }`, { id })).data.order;
    expect(await asOf(new Date().toISOString())).toEqual(now);
  });
});

describe('orderUpdated(after)', () => {
  it('sends every change since the cursor once, in order, then the live ones, on a gateway that never saw the order', async () => {
    const product = `SOCKS-${randomUUID().slice(0, 6)}`;
    await stock(product, 10);
    const id = `order-${randomUUID()}`;
    await system.stopService('fraud');
    await system.stopService('order-details');
    let resumed: any;
    try {
      await system.gql(`mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`, { input: { id, customerId: 'alice', product, quantity: 1, price: 1 } });
      // The client sees the order with its inventory verdict, then goes away.
      let seen: any;
      await waitFor(async () => (seen = (await system.gql(`query($id: ID!) { order(id: $id) { cursor state validations { checkType } } }`, { id })).data.order)?.validations.length === 1, 20_000, () => JSON.stringify(seen));
      // Meanwhile order-details answers: a change the client misses.
      await system.startService('order-details');
      await waitFor(async () => (await system.gql(`query($id: ID!) { order(id: $id) { validations { checkType } } }`, { id })).data.order.validations.length === 2, 20_000, () => 'the second verdict');

      // Back, on a gateway started after all of it.
      const fresh = await startGateway({ port: 0, host: '127.0.0.1', commandTimeoutMs: 20_000 });
      extraGateways.push(fresh);
      resumed = system.subscribe(`subscription($id: ID!, $after: String) { orderUpdated(id: $id, after: $after) { state cursor validations { checkType } } }`, { id, after: seen.cursor }, fresh);
      const [missed] = await resumed.received(1);
      expect(missed.orderUpdated).toMatchObject({ state: 'CREATED', validations: [expect.anything(), expect.anything()] });
    } finally {
      await system.startService('fraud');
      await system.startService('order-details').catch(() => {}); // started above unless that failed
    }
    // Then live: the fraud verdict, then the end.
    await waitFor(() => resumed!.values.at(-1)?.orderUpdated.state === 'VALIDATED', 20_000, () => JSON.stringify(resumed!.values));
    await new Promise((r) => setTimeout(r, 500)); // anything sent twice would arrive by now
    const updates: any[] = resumed.values.map((v: any) => v.orderUpdated);
    // The missed state, then the live ones: the fraud verdict's state may be left out when the end came before it
    // was projected (a whole state supersedes the one before), never the end.
    expect([['CREATED/2', 'CREATED/3', 'VALIDATED/3'], ['CREATED/2', 'VALIDATED/3']]).toContainEqual(updates.map((u) => `${u.state}/${u.validations.length}`));
    expect(new Set(updates.map((u) => u.cursor)).size, JSON.stringify(updates)).toBe(updates.length);
    // The last state is what a fresh load shows, cursor included.
    const fresh = (await system.gql(`query($id: ID!) { order(id: $id) { state cursor validations { checkType } } }`, { id })).data.order;
    expect(updates.at(-1)).toEqual(fresh);
    expect(resumed!.errors).toEqual([]);
    await resumed!.close();
  });

  it('refuses a bad cursor with BAD_USER_INPUT and sends nothing', async () => {
    const id = await settledOrder('alice');
    const subscription = system.subscribe(`subscription($id: ID!, $after: String) { orderUpdated(id: $id, after: $after) { state } }`, { id, after: 'garbage' });
    await waitFor(() => subscription.errors.length > 0, 10_000, () => 'an error');
    expect(JSON.stringify(subscription.errors)).toMatch(/BAD_USER_INPUT|invalid cursor/);
    expect(subscription.values).toEqual([]);
    await subscription.close();
  });
});

describe('rides: history, asOf and rideUpdated(after)', () => {
  const PICKUP = { lat: 52.5, lng: 13.4 }; // Berlin
  const north = (km: number) => ({ lat: PICKUP.lat + km / 111.195, lng: PICKUP.lng });
  const RIDE_STATE = 'id riderId driverId state pickup { lat lng } dropoff { lat lng } requestedAt updatedAt cursor';

  async function ok(query: string, variables: Record<string, unknown>) {
    const result = await system.gql(query, variables);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return Object.values(result.data)[0] as any;
  }
  const rideNow = (id: string) => ok(`query($id: ID!) { ride(id: $id) { ${RIDE_STATE} } }`, { id });

  it('tells, and resumes, a whole ride: each state change once, in order, then the live ones, on a gateway that never saw it', async () => {
    const driverId = `driver-${randomUUID().slice(0, 8)}`;
    const rideId = `ride-${randomUUID()}`;
    await ok(`mutation($id: ID!, $at: LocationInput!) { goOnline(driverId: $id, location: $at) { id } }`, { id: driverId, at: north(0.5) });
    const requested = await ok(`mutation($input: RequestRideInput!) { requestRide(input: $input) { state } }`, { input: { id: rideId, riderId: 'rita', pickup: PICKUP, dropoff: north(2) } });
    expect(requested.state).toBe('DRIVER_ASSIGNED');
    let assigned: any;
    await waitFor(async () => !!(assigned = await rideNow(rideId).catch(() => undefined))?.cursor, 10_000, () => 'the assigned ride with a cursor');

    // While the client is away: the driver arrives and the ride starts.
    await ok(`mutation($id: ID!, $at: LocationInput!) { updateDriverLocation(driverId: $id, location: $at) { id } }`, { id: driverId, at: north(0.01) });
    await waitFor(async () => (await rideNow(rideId)).state === 'DRIVER_ARRIVED', 10_000, () => 'the arrival');
    await ok(`mutation($id: ID!) { startRide(rideId: $id) { state } }`, { id: rideId });

    const fresh = await startGateway({ port: 0, host: '127.0.0.1', commandTimeoutMs: 20_000 });
    extraGateways.push(fresh);
    const resumed = system.subscribe(`subscription($id: ID!, $after: String) { rideUpdated(rideId: $id, after: $after) { state cursor } }`, { id: rideId, after: assigned.cursor }, fresh);
    await resumed.received(2);
    await ok(`mutation($id: ID!) { completeRide(rideId: $id) { state } }`, { id: rideId });
    await waitFor(() => resumed.values.at(-1)?.rideUpdated.state === 'COMPLETED', 10_000, () => JSON.stringify(resumed.values));
    await new Promise((r) => setTimeout(r, 500)); // anything sent twice would arrive by now
    // Positions of the driver may come between (same state, same cursor); each state change comes once, in order.
    const changes = resumed.values.map((v: any) => v.rideUpdated).filter((u: any, i: number, all: any[]) => i === 0 || u.cursor !== all[i - 1].cursor);
    expect(changes.map((u: any) => u.state)).toEqual(['DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
    expect(new Set(changes.map((u: any) => u.state)).size).toBe(3);
    expect(resumed.errors).toEqual([]);
    await resumed.close();

    // Its history, and the ride as it was at each of its events.
    const history = (await ok(`query($id: ID!) { ride(id: $id) { history(first: 50) { edges { node { ${EVENT} } } } } }`, { id: rideId })).history.edges.map((e: any) => e.node);
    expect(history.map((e: any) => e.type)).toEqual(['RideRequested', 'DriverAssigned', 'DriverArrived', 'RideStarted', 'RideCompleted']);
    expect(history[0].actor).toMatchObject({ sub: 'admin' });
    const states = ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED'];
    const asOf = async (at: string) => (await system.gql(`query($id: ID!, $at: DateTime) { ride(id: $id, asOf: $at) { ${RIDE_STATE} } }`, { id: rideId, at })).data.ride;
    expect(await asOf(new Date(Date.parse(history[0].occurredAt) - 1).toISOString())).toBeNull();
    for (const [i, event] of history.entries()) {
      const later = history.filter((e: any) => e.occurredAt === event.occurredAt).at(-1); // events of one millisecond count together
      const then = await asOf(event.occurredAt);
      expect(then.state, event.type).toBe(states[history.indexOf(later)]);
      expect(then.driverId).toBe(i === 0 && later === event ? null : driverId);
    }
    // The latest moment is what the projection shows now.
    expect(await asOf(new Date().toISOString())).toEqual(await rideNow(rideId));
  });

  it('refuses a bad or foreign cursor on rideUpdated and Ride.history with BAD_USER_INPUT', async () => {
    const rideId = `ride-${randomUUID()}`;
    // A ride nobody is near: in Munich, where this test puts no driver (a pickup outside every region is refused).
    const munich = { lat: 48.15, lng: 11.55 };
    await ok(`mutation($input: RequestRideInput!) { requestRide(input: $input) { state } }`, { input: { id: rideId, riderId: 'rita', pickup: munich, dropoff: { ...munich, lat: munich.lat + 0.01 } } });
    const foreign = (await historyOf(await settledOrder('alice')))[0].position;
    const result = await system.gql(`query($id: ID!, $after: String) { ride(id: $id) { history(after: $after) { edges { cursor } } } }`, { id: rideId, after: foreign });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const subscription = system.subscribe(`subscription($id: ID!, $after: String) { rideUpdated(rideId: $id, after: $after) { state } }`, { id: rideId, after: foreign });
    await waitFor(() => subscription.errors.length > 0, 10_000, () => 'an error');
    expect(JSON.stringify(subscription.errors)).toMatch(/BAD_USER_INPUT|another entity/);
    expect(subscription.values).toEqual([]);
    await subscription.close();
  });
});
