/**
 * The shared runtime on real Kafka: invalid messages go to the dead-letter topic without stopping a
 * consumer, a restarted service rebuilds its state from the log, and a redelivered command is applied once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { ordersContract, TOPICS } from '../services/orders/contract.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';
import { onTheWire } from './support/wire.ts';

let system: TestSystem;
let bus: Bus;
beforeAll(async () => {
  system = await startSystem({ commandTimeoutMs: 4000 });
  bus = await createBus({ clientId: 'runtime-test' });
});
afterAll(async () => {
  await bus?.close();
  await system?.stop();
});

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
const AWAIT = `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state validations { checkType result reason } } }`;
const ITEM = `query($p: String!) { inventoryItem(product: $p) { stock reserved } }`;

async function placeAndSettle(product: string, quantity = 1) {
  const placed = await system.gql(PLACE, { input: { customerId: `c-${randomUUID()}`, product, quantity, price: 1 } });
  expect(placed.errors).toBeUndefined();
  const settled = await system.gql(AWAIT, { id: placed.data.placeOrder.id });
  expect(settled.errors).toBeUndefined();
  return settled.data.awaitOrder;
}

it('dead-letters an invalid event and keeps consuming', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 5) { stock } }`);

  const deadLetters: { value: string; reason: string; consumer: string }[] = [];
  const consumer = bus.createConsumer(`dlq-reader-${randomUUID()}`);
  await consumer.connect();
  await consumer.subscribe({ topic: bus.topic(RUNTIME_TOPICS.deadLetters), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      deadLetters.push({ value: message.value!.toString(), reason: message.headers!.reason!.toString(), consumer: message.headers!.consumer!.toString() });
    },
  });
  try {
    const raw = bus.kafka.producer();
    await raw.connect();
    await raw.send({ topic: bus.topic(TOPICS.orderEvents), messages: [{ key: 'junk', value: await onTheWire(bus, TOPICS.orderEvents, { kind: 'event', type: 'OrderCreated' }) }] });
    await raw.disconnect();

    // Every consumer of orders.events sets it aside with its reason…
    const consumers = ['fraud', 'inventory', 'order-details', 'orders-event-index', 'orders-projector'];
    await waitFor(() => deadLetters.length >= consumers.length, 20_000, () => `dead letters from ${consumers.join(', ')} (got ${JSON.stringify(deadLetters.map((d) => d.consumer))})`);
    expect(deadLetters.map((d) => d.consumer).sort()).toEqual(consumers);
    expect(deadLetters.every((d) => d.value.includes('OrderCreated') && /invalid envelope/.test(d.reason))).toBe(true);
    // …and goes on with the next message.
    expect((await placeAndSettle(product)).state).toBe('VALIDATED');
  } finally {
    await consumer.disconnect();
  }
});

it('rebuilds a restarted service’s state from its events', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 1) { stock } }`);
  expect((await placeAndSettle(product)).state).toBe('VALIDATED');

  await system.restartService('inventory');

  // The restarted inventory knows the last unit is reserved, from the log alone.
  const second = await placeAndSettle(product);
  expect(second.state).toBe('FAILED');
  expect(second.validations.find((v: any) => v.checkType === 'INVENTORY_CHECK').reason).toMatch(/0 available/);
});

it('applies a redelivered command once', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  const command = ordersContract.command({ type: 'AddInventory', data: { product, quantity: 4 } });
  await bus.publish([ordersContract.outgoing(command)]);
  await bus.publish([ordersContract.outgoing(command)]);
  await bus.publish([ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity: 1 } }))]);
  await waitFor(async () => (await system.gql(ITEM, { p: product })).data.inventoryItem?.stock === 5, 20_000, () => 'stock 5');
  await system.restartService('inventory');
  await bus.publish([ordersContract.outgoing(command)]);
  const marker = ordersContract.command({ type: 'AddInventory', data: { product, quantity: 10 } });
  await bus.publish([ordersContract.outgoing(marker)]);
  await waitFor(async () => (await system.gql(ITEM, { p: product })).data.inventoryItem?.stock === 15, 20_000, () => 'stock 15');
});

it('answers TIMEOUT with the command id while a service is down, and loses nothing: the command completes once it is back', async () => {
  const id = `order-${randomUUID()}`;
  await system.stopService('orders');
  try {
    const placed = await system.gql(PLACE, { input: { id, customerId: 'c', product: 'ANY', quantity: 1, price: 1 } });
    expect(placed.errors?.[0].extensions?.code).toBe('TIMEOUT');
    expect(placed.errors?.[0].extensions?.commandId).toEqual(expect.any(String));
    expect(placed.errors?.[0].message).toContain(placed.errors?.[0].extensions?.commandId as string);
  } finally {
    await system.startService('orders');
  }
  const settled = await system.gql(AWAIT, { id });
  expect(settled.errors).toBeUndefined();
  expect(settled.data.awaitOrder.state).toBe('FAILED'); // product ANY was never stocked
});

it('times out awaitOrder on an order still waiting for a check, which completes when the checker returns', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 1) { stock } }`);
  await system.stopService('fraud');
  let id: string;
  try {
    const placed = await system.gql(PLACE, { input: { customerId: `c-${randomUUID()}`, product, quantity: 1, price: 1 } });
    id = placed.data.placeOrder.id;
    const waited = await system.gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 500) { state } }`, { id });
    expect(waited.errors?.[0].extensions?.code).toBe('TIMEOUT');
    expect(waited.errors?.[0].message).toMatch(/still CREATED/);
  } finally {
    await system.startService('fraud');
  }
  expect((await system.gql(AWAIT, { id: id! })).data.awaitOrder.state).toBe('VALIDATED');
});
