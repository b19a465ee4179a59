/**
 * One reader per process (services/shared/service.ts), on the real broker: the orders domain's four services run in
 * one process, as `npm start` runs them. They share one consumer group, which alone reads orders.events for the three
 * services that need it; orders complete through it; and the gateway's readiness follows that group, which the
 * heartbeats name for each service, with lag counted on every topic it reads.
 */
import { randomUUID } from 'node:crypto';
import { AssignerProtocol } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { ordersContract, TOPICS } from '../services/orders/contract.ts';
import { decodeReply, RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { loadProcesses } from '../services/runtimes.ts';
import { startParts, type RunningParts } from '../services/shared/process.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

const ORDER_SERVICES = ['orders', 'inventory', 'fraud', 'order-details'];
const SHARED_GROUP = 'fraud+inventory+order-details+orders';
let system: TestSystem;
let gateway: RunningGateway;
let shared: RunningParts | undefined;
let bus: Bus;
/** A command the services decided in their own groups, before the shared reader took over. */
let decidedBefore: string;

beforeAll(async () => {
  system = await startSystem();
  bus = await createBus({ clientId: 'one-reader-test' });
  // Decided first by the services in groups of their own (the layout of SERVICE_PROCESSES=each).
  const command = ordersContract.command({ type: 'AddInventory', data: { product: `before-${randomUUID().slice(0, 8)}`, quantity: 1 } });
  decidedBefore = command.commandId;
  await bus.publish([ordersContract.outgoing(command)]);
  await waitFor(async () => (await repliesTo(decidedBefore)) === 1, 20_000, () => 'the first command answered');
  for (const name of ORDER_SERVICES) await system.stopService(name);
  const processes = await loadProcesses();
  shared = await startParts(processes.filter((parts) => ORDER_SERVICES.includes(parts.name)));
  gateway = await startGateway({ port: 0, host: '127.0.0.1', health: { sampleMs: 100, stallAfterMs: 5_000, readinessChecks: [] } });
});
afterAll(async () => {
  await gateway?.stop();
  await shared?.stop();
  await bus?.close();
  await system?.stop();
});

async function groups() {
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    const names = [SHARED_GROUP, ...ORDER_SERVICES].map((name) => system.isolation.prefix + name);
    const { groups: described } = await admin.describeGroups(names);
    return new Map(described.map((g) => [g.groupId.slice(system.isolation.prefix.length), g]));
  } finally {
    await admin.disconnect();
  }
}

async function repliesTo(commandId: string): Promise<number> {
  return (await readTopic(bus, bus.topic(RUNTIME_TOPICS.commandReplies)))
    .filter((m) => decodeReply(m.value).commandId === commandId).length;
}

async function readiness(): Promise<{ status: number; body: any }> {
  const response = await fetch(gateway.url.replace('/graphql', '/readyz'));
  return { status: response.status, body: await response.json() };
}

it('runs the four services of a process as one consumer group, which alone reads orders.events for them', async () => {
  let found = await groups();
  await waitFor(async () => (found = await groups()).get(SHARED_GROUP)?.state === 'Stable', 30_000, () => `group ${SHARED_GROUP} stable`);
  expect(found.get(SHARED_GROUP)!.members).toHaveLength(1);
  for (const name of ORDER_SERVICES) expect(found.get(name)!.members).toHaveLength(0);
  // Every topic of the four services, each once: their inputs and their repartition topics.
  const subscribed = new Set<string>();
  for (const member of found.get(SHARED_GROUP)!.members) {
    const { assignment } = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)!;
    for (const topic of Object.keys(assignment)) subscribed.add(topic.slice(system.isolation.prefix.length));
  }
  expect([...subscribed].sort()).toEqual(
    [TOPICS.inventoryCommands, TOPICS.orderCommands, TOPICS.orderEvents, TOPICS.orderValidations, ...ORDER_SERVICES.map((name) => `${name}.repartition`)].sort(),
  );
});

it('completes orders through the shared reader: validated with stock, failed without', async () => {
  const product = `P-${randomUUID().slice(0, 8)}`;
  const added = await system.gql(`mutation($p: String!) { addInventory(product: $p, quantity: 3) { stock } }`, { p: product });
  expect(added.errors).toBeUndefined();
  const place = async (quantity: number) => {
    const id = `order-${randomUUID()}`;
    const placed = await system.gql(
      `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
      { input: { id, customerId: `c-${randomUUID()}`, product, quantity, price: 5 } },
    );
    expect(placed.errors).toBeUndefined();
    const awaited = await system.gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state } }`, { id });
    return awaited.data.awaitOrder.state;
  };
  expect(await Promise.all([place(2), place(2)])).toEqual(expect.arrayContaining(['VALIDATED', 'FAILED']));
  const item = await system.gql(`query($p: String!) { inventoryItem(product: $p) { stock reserved } }`, { p: product });
  expect(item.data.inventoryItem).toEqual({ stock: 3, reserved: 2 });
});

it('takes the positions over from the groups that decided the services before, so nothing is decided again', async () => {
  for (const topic of [TOPICS.inventoryCommands, TOPICS.orderEvents]) {
    const before = await bus.committedOffsets('inventory', bus.topic(topic));
    const now = await bus.committedOffsets(SHARED_GROUP, bus.topic(topic));
    for (const [partition, offset] of before) expect(now.get(partition)).toBeGreaterThanOrEqual(offset);
  }
  // The shared reader has decided new input since (the test before), and answered the old command no second time.
  expect(await repliesTo(decidedBefore)).toBe(1);
});

it('refuses to start a service in a group of its own while the shared group decides it', async () => {
  const inventory = (await loadProcesses()).find((parts) => parts.name === 'inventory')!;
  await expect(startParts([inventory], 'handler')).rejects.toThrow(/consumer group fraud\+inventory\+order-details\+orders decides inventory now/);
});

it('is ready with the shared group serving each service, and says which service waits once it stops', async () => {
  let last: Awaited<ReturnType<typeof readiness>> | undefined;
  const caughtUp = (r: typeof last) => r?.status === 200 && r.body.consumers.every((c: { members: number; lag: number }) => c.members >= 1 && c.lag === 0);
  await waitFor(async () => caughtUp((last = await readiness())), 30_000, () => JSON.stringify(last));
  const inventory = last!.body.consumers.find((c: { name: string }) => c.name === 'inventory');
  expect(inventory.group).toBe(system.isolation.prefix + SHARED_GROUP);

  await shared!.stop();
  shared = undefined;
  // Each of the four services named (the first 503 may still be about something else, e.g. heartbeats not heard yet).
  const namesAll = (r: typeof last) => r?.status === 503 && ORDER_SERVICES.every((name) => r.body.reasons.join('\n').includes(name));
  await waitFor(async () => namesAll((last = await readiness())), 20_000, () => JSON.stringify(last));
});

