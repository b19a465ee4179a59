/**
 * Several instances of a service: two processes each of inventory and of orders (handler and projector) share
 * their partitions under order load, and one of each is killed with SIGKILL mid-run. Its partitions move to the
 * survivor, which restores their state from the log before deciding. Then, from the log and the read models:
 * no oversell (reserved ≤ stock after every inventory event), the projection equal to a fresh fold of the log,
 * exactly one terminal state and one stock decision per order, every command's events present, none twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTopic } from '../scripts/topic-reader.ts';
import { ordersContract, TOPICS, type EventEnvelope } from '../services/orders/contract.ts';
import { inventoryService } from '../services/orders/inventory/handler.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import type { AnyEnvelope } from '../services/shared/messages.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const PRODUCTS = 12;
const ORDERS = 240;
const CLIENTS = 16;
const RESTOCKS = 36;

let system: TestSystem;
let bus: Bus;
const children: { name: string; child: ChildProcess; lines: string[] }[] = [];

function spawnInstance(name: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'services/main.ts'), name], {
    cwd: root, env: { ...process.env, ...system.isolation.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance = { name, child, lines: [] as string[] };
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => instance.lines.push(...chunk.split('\n').filter(Boolean)));
  }
  children.push(instance);
  return instance;
}

async function members(group: string): Promise<number> {
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([bus.prefix + group]);
    return groups[0]?.state === 'Stable' ? groups[0].members.length : 0;
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  system = await startSystem({ commandTimeoutMs: 30_000 });
  bus = await createBus({ clientId: 'instances-test' });
  await system.stopService('inventory');
  await system.stopService('orders');
});
afterAll(async () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await bus?.close();
  await system?.stop();
});

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
const ADD = `mutation($p: String!, $q: Int!) { addInventory(product: $p, quantity: $q) { stock } }`;

/** Runs `work(i)` for i < count with `concurrency` at a time. */
async function pool(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await work(next++);
  }));
}

const decode = (value: Buffer | null) => ordersContract.decode(value) as AnyEnvelope;
async function logOf(topic: string): Promise<AnyEnvelope[]> {
  return (await readTopic(bus, bus.topic(topic))).map((m) => decode(m.value));
}

it('two instances each of inventory and orders, one of each killed mid-run: no oversell, one outcome per order, nothing lost or doubled', async () => {
  const run = randomUUID().slice(0, 6);
  const products = Array.from({ length: PRODUCTS }, (_, i) => `I-${run}-${i}`);
  const instances = ['inventory', 'inventory', 'orders', 'orders'].map(spawnInstance);
  await waitFor(async () => (await members('inventory')) === 2 && (await members('orders')) === 2, 60_000, () => 'two members in each group');
  for (const name of ['inventory', 'orders']) {
    const lines = instances.filter((i) => i.name === name).flatMap((i) => i.lines.filter((l) => l.includes(`${name}: assigned`)));
    console.log(`[instances] ${name}: ${lines.slice(-2).join(' | ')}`);
  }

  // Limited stock: 4 units per product first, more arriving during the run; about 40 units asked of each.
  await Promise.all(products.map((p) => system.gql(ADD, { p, q: 4 }).then((r) => expect(r.errors).toBeUndefined())));
  const orderIds = Array.from({ length: ORDERS }, (_, i) => `o-${run}-${i}`);
  const outcomes = { accepted: 0, timedOut: 0, other: [] as string[] };
  let killedAt = -1;
  const victims = [instances[0], instances[2]]; // one inventory, one orders
  const placing = pool(ORDERS, CLIENTS, async (i) => {
    if (i === Math.floor(ORDERS / 3) && killedAt < 0) {
      killedAt = i;
      for (const { child } of victims) child.kill('SIGKILL');
    }
    const result = await system.gql(PLACE, {
      input: { id: orderIds[i], customerId: `c-${i % 40}`, product: products[i % PRODUCTS], quantity: 1 + (i % 3), price: 1 },
    });
    const code = result.errors?.[0]?.extensions?.code;
    if (!result.errors) outcomes.accepted += 1;
    else if (code === 'TIMEOUT') outcomes.timedOut += 1;
    else outcomes.other.push(JSON.stringify(result.errors));
  });
  const restocking = pool(RESTOCKS, 2, async (i) => {
    const result = await system.gql(ADD, { p: products[i % PRODUCTS], q: 1 });
    if (result.errors && result.errors[0].extensions?.code !== 'TIMEOUT') outcomes.other.push(JSON.stringify(result.errors));
  });
  await Promise.all([placing, restocking]);
  for (const { child } of victims) expect(child.signalCode).toBe('SIGKILL');
  console.log(`[instances] ${JSON.stringify(outcomes)} (killed before order ${killedAt})`);
  expect(outcomes.other).toEqual([]);

  // Nothing lost: every order placed, answered in time or not, reaches a terminal state.
  let terminal = 0;
  await waitFor(async () => {
    terminal = await system.prisma.order.count({ where: { id: { in: orderIds }, state: { in: ['VALIDATED', 'FAILED'] } } });
    return terminal === ORDERS;
  }, 120_000, () => `every order terminal (${terminal}/${ORDERS})`);
  for (const { name, lines } of instances.filter((i) => !victims.includes(i))) {
    console.log(`[instances] surviving ${name}: ${lines.filter((l) => /restored partition|assigned partition/.test(l)).join(' | ')}`);
  }

  // The log, each event id once.
  const distinct = (events: AnyEnvelope[]) => {
    const byId = new Map<string, EventEnvelope>();
    for (const e of events) if (e.kind === 'event') byId.set(e.eventId, e as EventEnvelope);
    return [...byId.values()];
  };
  const orderEvents = distinct(await logOf(TOPICS.orderEvents)).filter((e) => orderIds.includes(e.aggregateId));
  const inventoryLog = (await logOf(TOPICS.inventoryEvents)).filter((e) => products.includes(e.aggregateId));
  const stockEvents = distinct(inventoryLog);
  const commands = (await logOf(TOPICS.inventoryCommands)).filter((c) => c.kind === 'command' && products.includes(c.aggregateId));

  // One creation and one terminal state per order; one stock decision per order, at most one release.
  for (const id of orderIds) {
    const mine = orderEvents.filter((e) => e.aggregateId === id);
    expect(mine.filter((e) => e.type === 'OrderCreated'), id).toHaveLength(1);
    expect(mine.filter((e) => e.type === 'OrderValidated' || e.type === 'OrderFailed'), id).toHaveLength(1);
    const stock = stockEvents.filter((e) => (e.data as { orderId?: string }).orderId === id);
    expect(stock.filter((e) => e.type === 'StockReserved' || e.type === 'StockReservationFailed'), id).toHaveLength(1);
    expect(stock.filter((e) => e.type === 'StockReleased').length, id).toBeLessThanOrEqual(1);
  }
  // Every AddInventory has exactly one StockAdded.
  expect(commands.length).toBe(PRODUCTS + RESTOCKS);
  for (const command of commands) {
    expect(stockEvents.filter((e) => e.type === 'StockAdded' && e.causationId === (command as { commandId: string }).commandId)).toHaveLength(1);
  }
  // No oversell at any point of the log, and the projection equals a fresh fold of it.
  const rows = await system.prisma.inventoryItem.findMany({ where: { product: { in: products } } });
  const seen = new Set<string>();
  let reservedTotal = 0;
  for (const product of products) {
    let state = inventoryService.initialState();
    for (const event of inventoryLog) {
      if (event.kind !== 'event' || event.aggregateId !== product || seen.has(event.eventId)) continue;
      seen.add(event.eventId);
      state = inventoryService.evolve(state, event as never);
      expect(state.reserved, `${product} after ${event.type}`).toBeLessThanOrEqual(state.stock);
      expect(state.reserved).toBeGreaterThanOrEqual(0);
    }
    reservedTotal += state.reserved;
    expect(rows.find((r) => r.product === product), product).toMatchObject({ stock: state.stock, reserved: state.reserved });
  }
  // Stock ran out: the test asked for more than there was, so oversell had its chance.
  expect(orderEvents.filter((e) => e.type === 'OrderFailed').length).toBeGreaterThan(0);
  expect(reservedTotal).toBeGreaterThan(0);
  // The read model agrees with the log.
  const projected = await system.prisma.order.findMany({ where: { id: { in: orderIds } }, select: { id: true, state: true } });
  for (const { id, state } of projected) {
    const end = orderEvents.find((e) => e.aggregateId === id && (e.type === 'OrderValidated' || e.type === 'OrderFailed'))!;
    expect(state, id).toBe(end.type === 'OrderValidated' ? 'VALIDATED' : 'FAILED');
  }
}, 300_000);
