/**
 * Evolving a contract without rewriting the log (issue 21, item 5): `currency` was added to the order after the first
 * orders. A PlaceOrder command and an OrderCreated event written as the previous build wrote them (no currency) are
 * read as the current version by the services, the projector and the gateway: the orders are decided and projected
 * with EUR. A new order carries its own currency; a malformed one is refused before anything is written. And
 * `StockReservationRejected`, renamed `StockReservationFailed`, still counts under its old name in the log: the
 * inventory service restored from it answers the order it names as it did.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TOPICS } from '../services/orders/contract.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';
import { onTheWire } from './support/wire.ts';

let system: TestSystem;
let bus: Bus;
beforeAll(async () => {
  system = await startSystem();
  bus = await createBus({ clientId: 'evolution-test' });
});
afterAll(async () => {
  await bus?.close();
  await system?.stop();
});

const ORDER = `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { id currency price state } }`;

/** A message as the build before `currency` wrote it: same envelope, schema version 1, no currency in its data. */
async function writeAsPreviousBuild(topic: string, envelope: Record<string, unknown>): Promise<void> {
  const producer = bus.kafka.producer();
  await producer.connect();
  await producer.send({ topic: bus.topic(topic), messages: [{ key: String(envelope.aggregateId), value: await onTheWire(bus, topic, envelope) }] });
  await producer.disconnect();
}

const oldOrder = (orderId: string, product: string) => ({ orderId, customerId: `c-${randomUUID()}`, product, quantity: 1, price: 3.5 });

it('decides and projects a command and an event the previous build wrote, reading them with the default currency', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 5) { stock } }`);
  const commanded = `old-cmd-${randomUUID()}`;
  await writeAsPreviousBuild(TOPICS.orderCommands, {
    kind: 'command', commandId: randomUUID(), type: 'PlaceOrder', schemaVersion: 1, aggregateId: commanded,
    occurredAt: new Date().toISOString(), data: oldOrder(commanded, product),
  });
  const created = `old-evt-${randomUUID()}`;
  const eventId = randomUUID();
  await writeAsPreviousBuild(TOPICS.orderEvents, {
    kind: 'event', eventId, type: 'OrderCreated', schemaVersion: 1, aggregateId: created, correlationId: eventId,
    causationId: eventId, occurredAt: new Date().toISOString(), data: oldOrder(created, product),
  });
  // The orders service learns of orders.events, its own topic, when it starts (restoring its state from it): as the
  // new build does when it first starts on a log the previous build wrote.
  await system.restartService('orders');
  for (const id of [commanded, created]) {
    const { data, errors } = await system.gql(ORDER, { id });
    expect(errors).toBeUndefined();
    expect(data.awaitOrder).toEqual({ id, currency: 'EUR', price: 3.5, state: 'VALIDATED' });
  }
  const rows = await system.prisma.order.findMany({ where: { id: { in: [commanded, created] } }, select: { currency: true } });
  expect(rows).toEqual([{ currency: 'EUR' }, { currency: 'EUR' }]);
});

it('carries a new order’s currency through, and refuses a malformed one before anything is written', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 5) { stock } }`);
  const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id currency } }`;
  const placed = await system.gql(PLACE, { input: { customerId: 'c', product, quantity: 1, price: 2, currency: 'USD' } });
  expect(placed.errors).toBeUndefined();
  expect(placed.data.placeOrder.currency).toBe('USD');
  const id = `bad-currency-${randomUUID()}`;
  const refused = await system.gql(PLACE, { input: { id, customerId: 'c', product, quantity: 1, price: 2, currency: 'us$' } });
  expect(refused.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  expect(refused.errors?.[0].message).toContain('three-letter ISO 4217 code');
  await waitFor(async () => (await system.gql(ORDER, { id: placed.data.placeOrder.id })).data.awaitOrder.state !== 'CREATED', 20_000);
  expect(await system.prisma.order.findUnique({ where: { id } })).toBeNull();
});

it('reads an event under the name it had before a rename: the inventory restored from it still fails the order it refused', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 5) { stock } }`);
  const orderId = `refused-${randomUUID()}`;
  const eventId = randomUUID();
  await writeAsPreviousBuild(TOPICS.inventoryEvents, {
    kind: 'event', eventId, type: 'StockReservationRejected', schemaVersion: 1, aggregateId: product, correlationId: eventId,
    causationId: eventId, occurredAt: new Date().toISOString(), data: { product, orderId, quantity: 1, reason: 'refused under the old name' },
  });
  await system.restartService('inventory'); // its state is restored from inventory.events, the renamed event included
  const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
  expect((await system.gql(PLACE, { input: { id: orderId, customerId: 'c', product, quantity: 1, price: 1 } })).errors).toBeUndefined();
  const { data } = await system.gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state validations { checkType result reason } } }`, { id: orderId });
  expect(data.awaitOrder.state).toBe('FAILED');
  expect(data.awaitOrder.validations).toContainEqual({ checkType: 'INVENTORY_CHECK', result: 'FAIL', reason: 'refused under the old name' });
});
