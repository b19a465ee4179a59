/**
 * The orders flow through GraphQL (HTTP and graphql-ws) against the whole system on real Kafka and
 * PostgreSQL: commands, the three checks, aggregation, projections and subscriptions.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, tokenFor, waitFor, type TestSystem } from './support/system.ts';

const ORDER = `id customerId product quantity price state createdAt updatedAt validations { checkType result reason }`;
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { ${ORDER} } }`;
const AWAIT = `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { ${ORDER} } }`;
const ADD = `mutation($product: String!, $quantity: Int!) { addInventory(product: $product, quantity: $quantity) { product stock reserved available } }`;
const ITEM = `query($product: String!) { inventoryItem(product: $product) { product stock reserved available } }`;

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({ gateways: 2 });
});
afterAll(async () => {
  await system?.stop();
});

/** A product name of its own per test, so tests never share stock. */
const sku = (name: string) => `${name}-${randomUUID().slice(0, 6)}`;

async function addStock(product: string, quantity: number) {
  const result = await system.gql(ADD, { product, quantity });
  expect(result.errors).toBeUndefined();
  return result.data.addInventory;
}

async function place(input: Record<string, unknown>) {
  const result = await system.gql(PLACE, { input: { customerId: `customer-${randomUUID()}`, price: 10, quantity: 1, ...input } });
  expect(result.errors).toBeUndefined();
  return result.data.placeOrder;
}

async function settled(id: string) {
  const result = await system.gql(AWAIT, { id });
  expect(result.errors).toBeUndefined();
  return result.data.awaitOrder;
}

const verdict = (order: any, checkType: string) => order.validations.find((v: any) => v.checkType === checkType);

describe('placing orders', () => {
  it('validates an order when stock, details and fraud checks pass, and reserves its stock', async () => {
    const underpants = sku('UNDERPANTS');
    expect(await addStock(underpants, 75)).toEqual({ product: underpants, stock: 75, reserved: 0, available: 75 });

    const created = await place({ product: underpants, quantity: 3, price: 5.5 });
    expect(created).toMatchObject({ product: underpants, quantity: 3, price: 5.5 });
    expect(['CREATED', 'VALIDATED']).toContain(created.state);

    const order = await settled(created.id);
    expect(order.state).toBe('VALIDATED');
    expect(order.validations).toHaveLength(3);
    expect(order.validations.every((v: any) => v.result === 'PASS' && v.reason === null)).toBe(true);
    expect((await system.gql(ITEM, { product: underpants })).data.inventoryItem).toEqual({
      product: underpants, stock: 75, reserved: 3, available: 72,
    });
  });

  it('validates ten sequential orders', async () => {
    const underpants = sku('UNDERPANTS');
    await addStock(underpants, 75);
    for (let i = 0; i < 10; i += 1) {
      const order = await place({ product: underpants, quantity: 2 });
      expect((await settled(order.id)).state).toBe('VALIDATED');
    }
    expect((await system.gql(ITEM, { product: underpants })).data.inventoryItem.reserved).toBe(20);
  });

  it('fails ten orders when the product is out of stock, and releases nothing it never reserved', async () => {
    const jumpers = sku('JUMPERS');
    await addStock(jumpers, 10);
    const all = await place({ product: jumpers, quantity: 10 });
    expect((await settled(all.id)).state).toBe('VALIDATED');

    for (let i = 0; i < 10; i += 1) {
      const order = await settled((await place({ product: jumpers, quantity: 1 })).id);
      expect(order.state).toBe('FAILED');
      expect(verdict(order, 'INVENTORY_CHECK')).toMatchObject({ result: 'FAIL' });
      expect(verdict(order, 'INVENTORY_CHECK').reason).toMatch(/insufficient stock/);
    }
    expect((await system.gql(ITEM, { product: jumpers })).data.inventoryItem).toMatchObject({ stock: 10, reserved: 10, available: 0 });
  });

  it('fails an order for an unknown product with a reason', async () => {
    const order = await settled((await place({ product: sku('NEVER-STOCKED') })).id);
    expect(order.state).toBe('FAILED');
    expect(verdict(order, 'INVENTORY_CHECK').reason).toMatch(/unknown product/);
  });

  it('passes then fails a customer whose session total reaches 2000 (1000, 2000, 2005)', async () => {
    const stockings = sku('STOCKINGS');
    await addStock(stockings, 20);
    const customerId = `customer-${randomUUID()}`;
    const results: string[] = [];
    for (const price of [1000, 2000, 2005]) {
      const order = await settled((await place({ customerId, product: stockings, quantity: 1, price })).id);
      results.push(verdict(order, 'FRAUD_CHECK').result);
    }
    expect(results).toEqual(['PASS', 'FAIL', 'FAIL']);
  });

  it('releases the reservation of an order that fails another check', async () => {
    const stockings = sku('STOCKINGS');
    await addStock(stockings, 20);
    const customerId = `customer-${randomUUID()}`;
    const order = await settled((await place({ customerId, product: stockings, quantity: 4, price: 600 })).id);
    expect(order.state).toBe('FAILED'); // 4 x 600 = 2400 >= 2000
    expect(verdict(order, 'INVENTORY_CHECK').result).toBe('PASS');
    const item = async () => (await system.gql(ITEM, { product: stockings })).data.inventoryItem;
    await waitFor(async () => (await item()).reserved === 0, 20_000, () => 'the reservation to be released');
    expect(await item()).toMatchObject({ stock: 20, reserved: 0, available: 20 });
  });

  it('never oversells: two concurrent orders for the last unit give exactly one VALIDATED', async () => {
    const last = sku('LAST-ONE');
    await addStock(last, 1);
    const [a, b] = await Promise.all([place({ product: last }), place({ product: last })]);
    const states = [(await settled(a.id)).state, (await settled(b.id)).state].sort();
    expect(states).toEqual(['FAILED', 'VALIDATED']);
    expect((await system.gql(ITEM, { product: last })).data.inventoryItem).toMatchObject({ stock: 1, reserved: 1, available: 0 });
  });

  it('fails a quantity of -1 in the order-details check', async () => {
    const underpants = sku('UNDERPANTS');
    await addStock(underpants, 5);
    const order = await settled((await place({ product: underpants, quantity: -1 })).id);
    expect(order.state).toBe('FAILED');
    expect(verdict(order, 'ORDER_DETAILS_CHECK')).toMatchObject({ result: 'FAIL' });
    expect(verdict(order, 'ORDER_DETAILS_CHECK').reason).toMatch(/quantity must be at least 1/);
    expect((await system.gql(ITEM, { product: underpants })).data.inventoryItem.reserved).toBe(0);
  });

  it('is idempotent on a client-supplied order id: one order, one reservation', async () => {
    const underpants = sku('UNDERPANTS');
    await addStock(underpants, 10);
    const id = `order-${randomUUID()}`;
    const customerId = `customer-${randomUUID()}`;
    const input = { id, customerId, product: underpants, quantity: 2, price: 3 };
    const [first, second] = await Promise.all([place(input), place(input)]);
    expect(first.id).toBe(id);
    expect(second.id).toBe(id);
    expect((await settled(id)).state).toBe('VALIDATED');
    const again = await place(input);
    expect(again.state).toBe('VALIDATED');
    const orders = await system.gql(`query($c: ID!) { orders(customerId: $c) { edges { node { id } } } }`, { c: customerId });
    expect(orders.data.orders.edges).toHaveLength(1);
    expect((await system.gql(ITEM, { product: underpants })).data.inventoryItem.reserved).toBe(2);
  });

  it('rejects reusing an order id for a different order with ORDER_ID_CONFLICT, the same answer whoever holds the id', async () => {
    const underpants = sku('UNDERPANTS');
    const id = `order-${randomUUID()}`;
    const [alice, bob] = await Promise.all([tokenFor('alice', ['customer']), tokenFor('bob', ['customer'])]);
    const input = { id, customerId: 'alice', product: underpants, quantity: 1, price: 10 };
    expect((await system.gql(PLACE, { input }, { token: alice })).errors).toBeUndefined();
    const own = await system.gql(PLACE, { input: { ...input, quantity: 5 } }, { token: alice });
    const another = await system.gql(PLACE, { input: { ...input, customerId: 'bob' } }, { token: bob });
    expect(own.errors?.[0].extensions?.code).toBe('ORDER_ID_CONFLICT');
    expect(own.errors?.[0].message).toMatch(/already taken: omit id to have one generated/);
    // Nothing tells bob whether the id is alice's, or what her order holds (each command has its own id).
    const answer = (errors: typeof own.errors) => errors?.map(({ extensions: { commandId: _, ...extensions } = {}, ...error }) => ({ ...error, extensions }));
    expect(answer(another.errors)).toEqual(answer(own.errors));
    // The owner's own retry stays idempotent.
    expect((await system.gql(PLACE, { input }, { token: alice })).data.placeOrder).toMatchObject({ id });
  });
});

describe('live updates', () => {
  it('pushes CREATED, then the terminal state, to subscribers on every gateway', async () => {
    const underpants = sku('UNDERPANTS');
    await addStock(underpants, 5);
    const id = `order-${randomUUID()}`;
    const query = `subscription($id: ID!) { orderUpdated(id: $id) { id state validations { checkType result } } }`;
    // With the fraud check down the order cannot end, so subscribers are sure to see it CREATED first.
    await system.stopService('fraud');
    let subscriptions;
    try {
      await place({ id, product: underpants });
      subscriptions = [system.subscribe(query, { id }, system.gateways[0]), system.subscribe(query, { id }, system.gateways[1])];
      for (const subscription of subscriptions) {
        const [first] = await subscription.received(1);
        expect(first.orderUpdated).toMatchObject({ id, state: 'CREATED' });
      }
    } finally {
      await system.startService('fraud');
    }
    for (const subscription of subscriptions) {
      await waitFor(() => subscription.values.some((v) => v.orderUpdated.state !== 'CREATED'), 20_000, () => JSON.stringify(subscription.values));
      const updates = subscription.values.map((v) => v.orderUpdated);
      expect(updates[0].state).toBe('CREATED');
      expect(updates.at(-1)).toMatchObject({ state: 'VALIDATED', validations: expect.arrayContaining([expect.objectContaining({ checkType: 'FRAUD_CHECK' })]) });
      expect(updates.filter((u) => u.state !== 'CREATED')).toHaveLength(1);
      // Never backwards, never the same state twice: each update adds a verdict or ends the order.
      const progress = updates.map((u) => (u.state === 'CREATED' ? 0 : 10) + u.validations.length);
      for (let i = 1; i < progress.length; i += 1) expect(progress[i]).toBeGreaterThan(progress[i - 1]);
      expect(subscription.errors).toEqual([]);
      await subscription.close();
    }
  });

  it('pushes each verdict as its own update', async () => {
    const underpants = sku('UNDERPANTS');
    await addStock(underpants, 5);
    const id = `order-${randomUUID()}`;
    // Only inventory and order-details answer at first; the fraud verdict arrives after the subscriber.
    await system.stopService('fraud');
    const subscription = system.subscribe(`subscription($id: ID!) { orderUpdated(id: $id) { state validations { checkType } } }`, { id });
    try {
      await place({ id, product: underpants });
      await waitFor(() => subscription.values.at(-1)?.orderUpdated.validations.length === 2, 20_000, () => JSON.stringify(subscription.values));
    } finally {
      await system.startService('fraud');
    }
    await waitFor(() => subscription.values.at(-1)?.orderUpdated.state === 'VALIDATED', 20_000, () => JSON.stringify(subscription.values));
    const seen = subscription.values.map((v) => `${v.orderUpdated.state}/${v.orderUpdated.validations.length}`);
    expect(seen).toContain('CREATED/2');
    expect(seen.at(-1)).toBe('VALIDATED/3');
    await subscription.close();
  });
});

describe('queries', () => {
  it('pages through a customer’s orders with cursors', async () => {
    const underpants = sku('UNDERPANTS');
    await addStock(underpants, 10);
    const customerId = `customer-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await place({ customerId, product: underpants })).id);
    const page = `query($c: ID!, $after: String) { orders(customerId: $c, first: 2, after: $after) {
      edges { cursor node { id validations { checkType } } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const result: any = await system.gql(page, { c: customerId, after });
      expect(result.errors).toBeUndefined();
      seen.push(...result.data.orders.edges.map((e: any) => e.node.id));
      if (!result.data.orders.pageInfo.hasNextPage) break;
      after = result.data.orders.pageInfo.endCursor;
    }
    expect(seen).toEqual(ids);
    for (const id of ids) expect((await settled(id)).state).toBe('VALIDATED');
    const byState = async (state: string) =>
      (await system.gql(`query($c: ID!, $s: OrderState) { orders(customerId: $c, state: $s, first: 100) { edges { node { id } } } }`, { c: customerId, s: state }))
        .data.orders.edges.map((e: any) => e.node.id);
    expect(await byState('VALIDATED')).toEqual(ids);
    expect(await byState('FAILED')).toEqual([]);
  });

  it('answers health checks with 200 when Kafka and PostgreSQL are reachable', async () => {
    const response = await fetch(system.gateways[0].url.replace('/graphql', '/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', kafka: 'ok', postgres: 'ok' });
  });
});

describe('bad input', () => {
  async function snapshot() {
    return {
      orders: await system.prisma.order.count(),
      validations: await system.prisma.orderValidation.count(),
      stock: await system.prisma.inventoryItem.findMany({ orderBy: { product: 'asc' } }),
    };
  }

  it('rejects a missing field, a wrong type and a bad quantity with clear errors, changing nothing', async () => {
    const before = await snapshot();
    const missing = await system.gql(`mutation { placeOrder(input: { customerId: "c", quantity: 1, price: 1 }) { id } }`);
    expect(missing.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(missing.errors?.[0].message).toMatch(/product/);

    const wrongType = await system.gql(PLACE, { input: { customerId: 'c', product: 'X', quantity: 'many', price: 1 } });
    expect(wrongType.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(wrongType.errors?.[0].message).toMatch(/quantity/);

    const zero = await system.gql(ADD, { product: sku('ZERO'), quantity: 0 });
    expect(zero.errors?.[0].extensions?.code).toBe('INVALID_QUANTITY');
    expect(zero.errors?.[0].message).toMatch(/at least 1/);

    const badCursor = await system.gql(`{ orders(after: "nonsense") { edges { cursor } } }`);
    expect(badCursor.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');

    // Valid numbers whose product is not: refused by the orders service, not left to poison the checks.
    const huge = await system.gql(PLACE, { input: { customerId: 'c', product: 'X', quantity: 2, price: 1e308 } });
    expect(huge.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(huge.errors?.[0].message).toMatch(/too large/);

    expect(await snapshot()).toEqual(before);
  });

  it('refuses an invalid subscription with a coded error', async () => {
    const subscription = system.subscribe(`subscription { orderUpdated(id: "x") { nope } }`);
    await waitFor(() => subscription.errors.length > 0, 10_000, () => 'the subscription to be refused');
    const errors = subscription.errors.flat() as { message: string }[];
    expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })]);
    expect(errors[0].message).toMatch(/nope/);
    await subscription.close();
  });

  it('answers null for an unknown order, and NOT_FOUND when awaiting one', async () => {
    const unknown = await system.gql(`query { order(id: "no-such-order") { id } }`);
    expect(unknown).toEqual({ data: { order: null } });
    const awaited = await system.gql(`query { awaitOrder(id: "no-such-order", timeoutMs: 300) { id } }`);
    expect(awaited.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });
});
