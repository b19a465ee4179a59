/**
 * Effects exactly once across a transaction that fails after the broker committed it (its answer lost): the
 * inventory service runs here on a bus whose task transactions commit and then report failure once. The retried AddInventory is found
 * handled in the log instead of decided again: one StockAdded, stock counted once in the service's state, the
 * projection and a fresh restore, and every answer to the command ACCEPTED with the same events. A copy of an event in the log (same id)
 * counts once too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTopic } from '../scripts/topic-reader.ts';
import { ordersContract, TOPICS, type EventEnvelope } from '../services/orders/contract.ts';
import { inventoryService } from '../services/orders/inventory/handler.ts';
import { findProcess } from '../services/runtimes.ts';
import { createBus, partitionOfKey, REPLAY_FOR_HEADER, type Bus } from '../services/shared/bus.ts';
import { createLogger } from '../services/shared/log.ts';
import { ORIGIN_TOPIC_HEADER, RUNTIME_TOPICS, decodeReply, repartitionTopic } from '../services/shared/messages.ts';
import { startParts, type RunningParts } from '../services/shared/process.ts';
import { startService, type RunningService } from '../services/shared/service.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';
import { onTheWire } from './support/wire.ts';

let system: TestSystem;
let bus: Bus;
let serviceBus: Bus;
let projector: RunningParts;
let service: RunningService | undefined;
/** The next transaction whose publish this returns true for is committed, then reported failed. */
let failAfterWriting: ((messages: Parameters<Bus['publish']>[0]) => boolean) | undefined;
let injected = 0;

/** The inventory handler on a bus that can lose the broker's answer after the broker committed a transaction. */
async function startInventory(): Promise<void> {
  const flaky: Bus = {
    ...serviceBus,
    async taskProducer(id) {
      const task = await serviceBus.taskProducer(id);
      return {
        ...task,
        async transaction(work) {
          let matched = false;
          const result = await task.transaction((txn) => work({
            ...txn,
            publish: async (messages) => {
              if (failAfterWriting?.(messages)) matched = true;
              return txn.publish(messages);
            },
          }));
          if (!matched) return result;
          failAfterWriting = undefined;
          injected += 1;
          throw new Error('Request EndTxn(key: 26, version: 1) timed out (injected after the broker committed it)');
        },
      };
    },
  };
  service = await startService(inventoryService, flaky, createLogger('inventory'));
}

beforeAll(async () => {
  system = await startSystem({ commandTimeoutMs: 20_000 });
  bus = await createBus({ clientId: 'exactly-once-test' });
  serviceBus = await createBus({ clientId: 'inventory' });
  await system.stopService('inventory');
  projector = await startParts([await findProcess('inventory')], 'projector');
  await startInventory();
});
afterAll(async () => {
  await service?.stop();
  await projector?.stop();
  await serviceBus?.close();
  await bus?.close();
  await system?.stop();
});

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
const AWAIT = `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state validations { checkType result reason } } }`;
const ITEM = `query($p: String!) { inventoryItem(product: $p) { stock reserved } }`;

async function order(product: string, quantity: number) {
  const placed = await system.gql(PLACE, { input: { customerId: `c-${randomUUID()}`, product, quantity, price: 1 } });
  expect(placed.errors).toBeUndefined();
  const settled = await system.gql(AWAIT, { id: placed.data.placeOrder.id });
  expect(settled.errors).toBeUndefined();
  return settled.data.awaitOrder as { state: string; validations: { checkType: string; reason: string | null }[] };
}

async function stockEvents(product: string): Promise<EventEnvelope[]> {
  return (await readTopic(bus, bus.topic(TOPICS.inventoryEvents)))
    .map((m) => ordersContract.decode(m.value))
    .filter((e): e is EventEnvelope => e.kind === 'event' && e.aggregateId === product);
}

/** A fresh fold of the log, each event id once: what any restore must arrive at. */
async function foldedStock(product: string): Promise<number> {
  const seen = new Set<string>();
  let state = inventoryService.initialState();
  for (const event of await stockEvents(product)) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    state = inventoryService.evolve(state, event);
  }
  return state.stock;
}

async function projectedStock(product: string): Promise<number | undefined> {
  return (await system.gql(ITEM, { p: product })).data.inventoryItem?.stock;
}

async function restartInventory(): Promise<void> {
  await service?.stop();
  service = undefined;
  await startInventory();
}

it('counts an AddInventory whose transaction commit was reported failed after the broker committed it, and answers it ACCEPTED with the same events each time', async () => {
  const product = `P-${randomUUID().slice(0, 8)}`;
  const add = ordersContract.command({ type: 'AddInventory', data: { product, quantity: 5 } });
  failAfterWriting = (messages) => messages.some((m) => 'envelope' in m && m.envelope.type === 'StockAdded' && m.envelope.aggregateId === product);
  await bus.publish([ordersContract.outgoing(add)]);
  await waitFor(async () => (await projectedStock(product)) === 5, 30_000, () => 'stock 5 projected');
  expect(injected).toBe(1);
  // A marker behind it: once it is projected, any second count of the first would be too.
  await bus.publish([ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity: 1 } }))]);
  await waitFor(async () => (await projectedStock(product)) === 6, 30_000, () => 'stock 6 projected');

  const added = (await stockEvents(product)).filter((e) => e.type === 'StockAdded' && e.causationId === add.commandId);
  expect(added).toHaveLength(1); // not decided again: the restored partition knew the command
  const replies = (await readTopic(bus, bus.topic(RUNTIME_TOPICS.commandReplies)))
    .map((m) => decodeReply(m.value))
    .filter((r) => r.commandId === add.commandId);
  // Answered once by the transaction that committed, and again by its retry, which found it handled: both the same.
  expect(replies.map((r) => r.status)).toEqual(['ACCEPTED', 'ACCEPTED']);
  expect(replies[0].positions).toHaveLength(1);
  expect(replies[1].positions).toEqual(replies[0].positions);
  expect(await foldedStock(product)).toBe(6);

  // The service's own state: 6 units, not 11.
  expect((await order(product, 6)).state).toBe('VALIDATED');
  const over = await order(product, 1);
  expect(over.state).toBe('FAILED');
  expect(over.validations.find((v) => v.checkType === 'INVENTORY_CHECK')?.reason).toMatch(/0 available/);
  // And a fresh restore from the log.
  await restartInventory();
  const again = await order(product, 1);
  expect(again.state).toBe('FAILED');
  expect(again.validations.find((v) => v.checkType === 'INVENTORY_CHECK')?.reason).toMatch(/0 available/);
  expect(await projectedStock(product)).toBe(6);
});

it('decides an order whose verdict transaction was reported failed after it committed: one reservation, one terminal state', async () => {
  const product = `P-${randomUUID().slice(0, 8)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 2) { stock } }`);
  failAfterWriting = (messages) => messages.some((m) => 'envelope' in m && m.envelope.type === 'StockReserved' && m.envelope.aggregateId === product);
  const before = injected;
  expect((await order(product, 1)).state).toBe('VALIDATED');
  expect(injected).toBe(before + 1);
  const reserved = (await stockEvents(product)).filter((e) => e.type === 'StockReserved');
  expect(reserved).toHaveLength(1);
  expect(await system.gql(ITEM, { p: product })).toMatchObject({ data: { inventoryItem: { stock: 2, reserved: 1 } } });
  expect((await order(product, 1)).state).toBe('VALIDATED');
  expect((await order(product, 1)).state).toBe('FAILED');
});

it('counts a copy of an event in the log once: in a restore and in the projection', async () => {
  const product = `P-${randomUUID().slice(0, 8)}`;
  const cause = ordersContract.command({ type: 'AddInventory', data: { product, quantity: 3 } });
  const stockAdded = ordersContract.event({ type: 'StockAdded', data: { product, quantity: 3 } }, cause, new Date(), 'inventory', 0);
  // Two copies, as a publish retried after it had in fact been written leaves them (same deterministic id).
  await bus.publish([ordersContract.outgoing(stockAdded)]);
  await bus.publish([ordersContract.outgoing(stockAdded)]);
  await bus.publish([ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity: 1 } }))]);
  await waitFor(async () => (await projectedStock(product)) !== undefined && (await stockEvents(product)).length === 3, 30_000, () => 'three stock events');
  await waitFor(async () => (await projectedStock(product)) === 4, 30_000, () => 'stock 4 projected');
  await restartInventory();
  const over = await order(product, 5);
  expect(over.state).toBe('FAILED');
  expect(over.validations.find((v) => v.checkType === 'INVENTORY_CHECK')?.reason).toMatch(/4 available/);
  expect((await order(product, 4)).state).toBe('VALIDATED');
  expect(await projectedStock(product)).toBe(4);
});

it('answers a command it decided but had not committed yet again after a restart, without deciding it twice', async () => {
  const product = `P-${randomUUID().slice(0, 8)}`;
  const add = ordersContract.command({ type: 'AddInventory', data: { product, quantity: 7 } });
  const [position] = await bus.publish([ordersContract.outgoing(add)]);
  await waitFor(async () => (await projectedStock(product)) === 7, 30_000, () => 'stock 7 projected');
  // A crash before the offsets were committed (they are, once a second): the group is put back before the command.
  await service?.stop();
  service = undefined;
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    await admin.setOffsets({ groupId: bus.prefix + 'inventory', topic: position.topic, partitions: [{ partition: position.partition, offset: position.offset }] });
  } finally {
    await admin.disconnect();
  }
  await startInventory();
  const replies = async () => (await readTopic(bus, bus.topic(RUNTIME_TOPICS.commandReplies)))
    .map((m) => decodeReply(m.value))
    .filter((r) => r.commandId === add.commandId);
  await waitFor(async () => (await replies()).length === 2, 30_000, () => 'the redelivered command answered');
  const [first, second] = await replies();
  expect([first.status, second.status]).toEqual(['ACCEPTED', 'ACCEPTED']);
  expect(second.positions).toEqual(first.positions); // the events it wrote the first time
  expect((await stockEvents(product)).filter((e) => e.causationId === add.commandId)).toHaveLength(1);
  await bus.publish([ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity: 1 } }))]);
  await waitFor(async () => (await projectedStock(product)) === 8, 30_000, () => 'stock 8 projected');
  expect(await foldedStock(product)).toBe(8);
});

it('decides an order event behind an earlier one of its order still waiting on the repartition topic, not before it', async () => {
  const product = `P-${randomUUID().slice(0, 8)}`;
  await bus.publish([ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity: 1 } }))]);
  await waitFor(async () => (await projectedStock(product)) === 1, 30_000, () => 'stock 1 projected');
  // An order whose events land on another partition than the product's state: deciding them takes the hop, or
  // (the instance holding both) none.
  const partitions = await bus.partitionCount(bus.topic(TOPICS.orderEvents));
  let orderId: string;
  do orderId = `o-${randomUUID()}`; while (partitionOfKey(orderId, partitions) === partitionOfKey(product, partitions));
  const details = { orderId, customerId: `c-${randomUUID()}`, product, quantity: 1, price: 1 };
  const created = ordersContract.event({ type: 'OrderCreated', data: details }, ordersContract.command({ type: 'PlaceOrder', data: details }), new Date(), 'orders', 0);
  const failed = ordersContract.event({ type: 'OrderFailed', data: { orderId, product, checks: [] } }, created, new Date(), 'orders', 0);
  // As a previous holder of the order's partition leaves it: OrderCreated forwarded and not decided yet, and the
  // order failing behind it. Meant for inventory alone (the header of a replayed dead letter): the other consumers skip them.
  await service?.stop();
  service = undefined;
  const onlyInventory = { [REPLAY_FOR_HEADER]: 'inventory' };
  // More than one fetch holds ahead of it on that partition (messages every consumer skips), so the order's own
  // partition is fetched and handled meanwhile.
  const filler = Buffer.alloc(1024, 'x');
  for (let i = 0; i < 30; i += 1) {
    await bus.publish(Array.from({ length: 50 }, () => ({
      topic: repartitionTopic('inventory'), key: product, value: filler, headers: { [REPLAY_FOR_HEADER]: 'nobody' },
    })));
  }
  await bus.publish([{
    topic: repartitionTopic('inventory'), key: product, value: await onTheWire(bus, TOPICS.orderEvents, created),
    headers: { type: created.type, [ORIGIN_TOPIC_HEADER]: TOPICS.orderEvents, ...onlyInventory },
  }]);
  await bus.publish([{ topic: TOPICS.orderEvents, key: orderId, value: await onTheWire(bus, TOPICS.orderEvents, failed), headers: { type: failed.type, ...onlyInventory } }]);
  await startInventory();
  // Decided in that order, the reservation is made, then released; the other way round it would be kept for ever.
  await waitFor(async () => (await stockEvents(product)).length === 3, 30_000, () => 'three stock events');
  expect((await stockEvents(product)).map((e) => e.type)).toEqual(['StockAdded', 'StockReserved', 'StockReleased']);
  await waitFor(async () => (await system.gql(ITEM, { p: product })).data.inventoryItem?.reserved === 0, 30_000, () => 'nothing reserved');
});
