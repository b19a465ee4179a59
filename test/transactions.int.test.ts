/**
 * Exactly-once tasks on the real broker (service.ts, bus.ts's task producers): the inventory handler runs in child
 * processes that stop themselves between a transaction's writes and its commit (test/fixtures/transaction-faults.ts).
 * Killed there, its events never reach a read_committed reader, and the input, read again by the next instance, is
 * decided once. Frozen there past its session timeout while another instance takes its tasks over, then woken, its
 * commit is fenced: nothing it decided reaches a read_committed reader.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTopic } from '../scripts/topic-reader.ts';
import { ordersContract, TOPICS, type EventEnvelope } from '../services/orders/contract.ts';
import { createBus, partitionOfKey, type Bus } from '../services/shared/bus.ts';
import { decodeReply, RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { schemaIds } from '../services/shared/wire.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const faults = resolve(import.meta.dirname, 'fixtures/transaction-faults.ts');
let system: TestSystem;
let bus: Bus;
const children: { child: ChildProcess; lines: string[] }[] = [];

beforeAll(async () => {
  system = await startSystem({ commandTimeoutMs: 30_000 });
  bus = await createBus({ clientId: 'transactions-test' });
  await system.stopService('inventory');
});
afterAll(async () => {
  for (const { child } of children) {
    if (child.exitCode !== null || child.signalCode === 'SIGKILL') continue;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await bus?.close();
  await system?.stop();
});

/** An inventory process (handler and projector); with `fault`, it signals itself before the commit after `arm()`. */
function spawnInventory(fault?: 'SIGKILL' | 'SIGSTOP') {
  const marker = resolve(tmpdir(), `fault-${randomUUID()}`);
  const child = spawn(process.execPath, ['--import', 'tsx', ...(fault ? ['--import', faults] : []), resolve(root, 'services/main.ts'), 'inventory'], {
    cwd: root,
    env: { ...process.env, ...system.isolation.env, LOG_LEVEL: 'info', ...(fault && { FAULT_MARKER: marker, FAULT_SIGNAL: fault }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance = { child, lines: [] as string[], arm: () => writeFileSync(marker, '') };
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => instance.lines.push(...chunk.split('\n').filter(Boolean)));
  }
  children.push(instance);
  return instance;
}

const logged = (instance: { lines: string[] }, pattern: RegExp) => () => instance.lines.some((line) => pattern.test(line));

/** The inventory group has one stable member holding every partition. */
async function consuming(): Promise<boolean> {
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([bus.prefix + 'inventory']);
    return groups[0]?.state === 'Stable' && groups[0].members.length === 1;
  } finally {
    await admin.disconnect();
  }
}

/** The stock events a command caused, as a read_committed reader sees them. */
async function committedEvents(commandId: string): Promise<EventEnvelope[]> {
  return (await readTopic(bus, bus.topic(TOPICS.inventoryEvents)))
    .map((m) => ordersContract.decode(m.value))
    .filter((e): e is EventEnvelope => e.kind === 'event' && e.causationId === commandId);
}

/** The stock events a command caused, aborted ones included (read_uncommitted), once `count` are there. */
async function writtenEvents(commandId: string, count: number): Promise<EventEnvelope[]> {
  const found: EventEnvelope[] = [];
  const consumer = bus.kafka.consumer({ groupId: `uncommitted-${randomUUID()}`, readUncommitted: true });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: bus.topic(TOPICS.inventoryEvents), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        await schemaIds().learn([message.value]); // a consumer of its own: no bus to learn the ids for it
        const event = ordersContract.decode(message.value);
        if (event.kind === 'event' && event.causationId === commandId) found.push(event as EventEnvelope);
      },
    });
    await waitFor(() => found.length >= count, 30_000, () => `${count} written event(s) of ${commandId}, found ${found.length}`);
    return found;
  } finally {
    await consumer.disconnect();
  }
}

async function replies(commandId: string) {
  return (await readTopic(bus, bus.topic(RUNTIME_TOPICS.commandReplies)))
    .map((m) => decodeReply(m.value))
    .filter((r) => r.commandId === commandId);
}

const ITEM = `query($p: String!) { inventoryItem(product: $p) { stock } }`;
const projectedStock = async (product: string) => (await system.gql(ITEM, { p: product })).data.inventoryItem?.stock;

async function addInventory(product: string, quantity: number) {
  const command = ordersContract.command({ type: 'AddInventory', data: { product, quantity } });
  await bus.publish([ordersContract.outgoing(command)]);
  return command;
}

it('kills a handler between its writes and its commit: the aborted events stay unseen, and the input is decided once', async () => {
  const first = spawnInventory('SIGKILL');
  await waitFor(consuming, 60_000, () => 'the first inventory instance consuming');
  first.arm();
  const product = `P-${randomUUID().slice(0, 8)}`;
  const add = await addInventory(product, 5);
  await waitFor(() => first.child.signalCode === 'SIGKILL', 30_000, () => 'the instance killed mid-transaction');
  // Written, and left open: the broker holds it until the task's next producer fences it (or its timeout).
  expect((await writtenEvents(add.commandId, 1)).map((e) => e.type)).toEqual(['StockAdded']);
  expect(await committedEvents(add.commandId)).toEqual([]);

  const second = spawnInventory();
  await waitFor(async () => (await projectedStock(product)) === 5, 60_000, () => `stock 5 projected after the restart; it logged:\n${second.lines.slice(-30).join('\n')}`);
  const committed = await committedEvents(add.commandId);
  expect(committed.map((e) => e.type)).toEqual(['StockAdded']);
  // The aborted write and the committed one: the same decision (same event id), visible once.
  const written = await writtenEvents(add.commandId, 2);
  expect(written.map((e) => e.eventId)).toEqual([committed[0].eventId, committed[0].eventId]);
  expect((await replies(add.commandId)).map((r) => r.status)).toEqual(['ACCEPTED']); // the aborted reply unseen too
  // Nothing counted twice: one more unit makes 6.
  await addInventory(product, 1);
  await waitFor(async () => (await projectedStock(product)) === 6, 30_000, () => 'stock 6 projected');
  for (const { child } of children) child.kill('SIGKILL');
});

it('fences a zombie: frozen mid-transaction while its tasks move, then woken, it commits nothing', async () => {
  await waitFor(async () => !(await consuming()), 30_000, () => 'the previous instances gone');
  const zombie = spawnInventory('SIGSTOP');
  await waitFor(consuming, 60_000, () => 'the zombie-to-be consuming');
  zombie.arm();
  const product = `P-${randomUUID().slice(0, 8)}`;
  const add = await addInventory(product, 3);
  await waitFor(logged(zombie, /fault: SIGSTOP/), 30_000, () => 'the instance frozen before its commit');

  // Another instance takes every task over once the frozen one's session has expired (10 s), and decides the input.
  const survivor = spawnInventory();
  await waitFor(async () => (await projectedStock(product)) === 3, 60_000, () => 'stock 3 projected by the survivor');
  zombie.child.kill('SIGCONT');
  await waitFor(logged(zombie, /was taken over by another instance/), 30_000, () => `the zombie's commit fenced; it logged:\n${zombie.lines.slice(-20).join('\n')}`);

  // Whatever comes next is decided once, whichever instance ends up holding its task.
  const more = await addInventory(product, 2);
  await waitFor(async () => (await projectedStock(product)) === 5, 60_000, () => 'stock 5 projected');
  expect((await committedEvents(add.commandId)).map((e) => e.type)).toEqual(['StockAdded']);
  expect((await committedEvents(more.commandId)).map((e) => e.type)).toEqual(['StockAdded']);
  expect(await writtenEvents(add.commandId, 2)).toHaveLength(2); // the zombie's write is in the log, aborted
  expect((await replies(add.commandId)).map((r) => r.status)).toEqual(['ACCEPTED']);
  expect(survivor.child.exitCode).toBeNull();

  // The woken zombie rejoins the group and may get tasks back, fenced producers and all: every task decides again,
  // whoever holds it (a product on each partition, so on each task).
  const partitions = await bus.partitionCount(bus.topic(TOPICS.inventoryCommands));
  const everywhere = new Map<number, string>();
  while (everywhere.size < partitions) {
    const candidate = `P-${randomUUID().slice(0, 8)}`;
    everywhere.set(partitionOfKey(candidate, partitions), candidate);
  }
  for (const each of everywhere.values()) await addInventory(each, 1);
  await waitFor(async () => {
    for (const each of everywhere.values()) if ((await projectedStock(each)) !== 1) return false;
    return true;
  }, 60_000, () => `stock 1 projected on every partition; the zombie logged:\n${zombie.lines.slice(-20).join('\n')}`);
});
