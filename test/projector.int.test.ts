/**
 * Projections are exactly-once in effect: a projector process killed with SIGKILL while events stream in,
 * then restarted, leaves exactly the rows the events imply, identical to a rebuild from the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { createPrisma, type PrismaClient } from '../services/shared/db.ts';
import { createLogger } from '../services/shared/log.ts';
import { ordersContract, TOPICS, type OrdersContract } from '../services/orders/contract.ts';
import { reconcileProjectionLog, startProjector, type ProjectionDefinition } from '../services/shared/projector.ts';
import { inventoryProjection } from '../services/orders/projections/inventory.ts';
import { isolate, waitFor, type Isolation } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const EVENTS = 8000;
const PRODUCTS = 40;

let isolation: Isolation;
let bus: Bus;
let prisma: PrismaClient;
beforeAll(async () => {
  isolation = await isolate();
  bus = await createBus({ clientId: 'projector-test' });
  prisma = createPrisma(isolation.databaseUrl);
});
afterAll(async () => {
  await bus?.close();
  await prisma?.$disconnect();
  await isolation?.drop();
});

function spawnProjector(): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', resolve(root, 'services/main.ts'), 'inventory', '--only=projector'], {
    cwd: root,
    env: { ...process.env, ...isolation.env },
    stdio: 'ignore',
  });
}

const appliedOffsets = async () => {
  const rows = await prisma.projectionOffset.findMany({ where: { projector: isolation.prefix + inventoryProjection.name } });
  return rows.reduce((sum, row) => sum + Number(row.nextOffset), 0);
};
const rows = () => prisma.inventoryItem.findMany({ orderBy: { product: 'asc' }, select: { product: true, stock: true, reserved: true } });

it('a projector killed mid-stream and restarted neither loses nor repeats an event', async () => {
  const cause = ordersContract.command({ type: 'AddInventory', data: { product: 'seed', quantity: 1 } });
  const expected = new Map<string, number>();
  const events = Array.from({ length: EVENTS }, (_, i) => {
    const product = `P${String(i % PRODUCTS).padStart(2, '0')}`;
    const quantity = 1 + (i % 7);
    expected.set(product, (expected.get(product) ?? 0) + quantity);
    return ordersContract.event({ type: 'StockAdded', data: { product, quantity } }, cause, new Date());
  });

  const first = spawnProjector();
  const exited = new Promise((r) => first.once('exit', r));
  // Stream the events in while the projector runs, and kill it once it is part-way through.
  let published = 0;
  const publishing = (async () => {
    for (let i = 0; i < EVENTS; i += 200) {
      await bus.publish(events.slice(i, i + 200).map(ordersContract.outgoing));
      published = i + 200;
    }
  })();
  await waitFor(async () => (await appliedOffsets()) >= 1000, 60_000, () => 'the first projector to apply 1000 events');
  first.kill('SIGKILL');
  await exited;
  const atKill = await appliedOffsets();
  expect(atKill).toBeLessThan(EVENTS);

  await publishing;
  expect(published).toBeGreaterThanOrEqual(EVENTS);
  const second = spawnProjector();
  try {
    await waitFor(async () => (await appliedOffsets()) === EVENTS, 60_000, () => 'the restarted projector to catch up');
  } finally {
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
  }

  const afterRestart = await rows();
  expect(afterRestart).toEqual(
    [...expected].sort(([a], [b]) => a.localeCompare(b)).map(([product, stock]) => ({ product, stock, reserved: 0 })),
  );

  // The table is a view of the log: drop it, start the projector, and the same rows come back.
  const dropProjection = () =>
    prisma.$transaction([
      prisma.inventoryItem.deleteMany(),
      prisma.inventoryAppliedEvent.deleteMany(), // the ids it counted, which belong to the projection too
      prisma.projectionOffset.deleteMany({ where: { projector: isolation.prefix + inventoryProjection.name } }),
    ]);
  await dropProjection();
  const rebuild = await startProjector(inventoryProjection, bus, prisma, createLogger('rebuild'));
  try {
    await waitFor(async () => (await appliedOffsets()) === EVENTS, 60_000, () => 'the rebuild to finish');
    expect(await rows()).toEqual(afterRestart);
  } finally {
    await rebuild.stop();
  }
});

it('says plainly when the database was projected from another Kafka log', async () => {
  const projector = isolation.prefix + inventoryProjection.name;
  await prisma.projectionOffset.upsert({
    where: { projector_topic_partition: { projector, topic: bus.topic('inventory.events'), partition: 0 } },
    create: { projector, topic: bus.topic('inventory.events'), partition: 0, nextOffset: 1_000_000n, updatedAt: new Date() },
    update: { nextOffset: 1_000_000n },
  });
  const errors: string[] = [];
  const log = { info: () => {}, warn: () => {}, error: (message: string) => errors.push(message) };
  const running = await startProjector(inventoryProjection, bus, prisma, log);
  try {
    await waitFor(() => errors.length > 0, 20_000, () => 'the projector to report offsets beyond the log');
    expect(errors[0]).toMatch(/beyond the end of .*inventory\.events on partition\(s\) 0.*another Kafka log/);
  } finally {
    await running.stop();
  }
});

it('recognizes a database projected from another Kafka cluster by its id, refuses it, and rebuilds from this log when told to', async () => {
  const projector = isolation.prefix + inventoryProjection.name;
  // Offsets that coincide with this log's, but were written for another cluster (e.g. the broker's data was wiped).
  await prisma.projectionOffset.updateMany({ where: { projector }, data: { clusterId: 'another-cluster' } });
  await expect(startProjector(inventoryProjection, bus, prisma, createLogger('refused'))).rejects.toMatchObject({
    code: 'LOG_MISMATCH',
    message: expect.stringMatching(/another Kafka log \(cluster another-cluster\).*--rebuild-projections/),
  });
  await expect(reconcileProjectionLog(prisma, bus, [inventoryProjection], 'never')).rejects.toMatchObject({ code: 'LOG_MISMATCH' });

  expect(await reconcileProjectionLog(prisma, bus, [inventoryProjection], 'if-foreign')).toEqual({
    rebuilt: true,
    reason: expect.stringMatching(/cluster another-cluster/),
  });
  expect(await prisma.inventoryItem.count()).toBe(0);
  expect(await reconcileProjectionLog(prisma, bus, [inventoryProjection], 'if-foreign')).toEqual({ rebuilt: false });

  const rebuilt = await startProjector(inventoryProjection, bus, prisma, createLogger('rebuilt'));
  try {
    await waitFor(async () => (await appliedOffsets()) === EVENTS, 60_000, () => 'the rebuild from this log to finish');
    const stock = (await rows()).reduce((sum, row) => sum + row.stock, 0);
    expect(stock).toBe(Array.from({ length: EVENTS }, (_, i) => 1 + (i % 7)).reduce((a, b) => a + b, 0));
    expect(await prisma.projectionOffset.count({ where: { projector, clusterId: await bus.clusterId() } })).toBeGreaterThan(0);
  } finally {
    await rebuilt.stop();
  }
});

it('applies a batch in one round trip (pipelined) from where it left the projection, and reads the position first when another instance moved it meanwhile', async () => {
  // Counts the events of each batch with no idempotence of its own, so an event applied twice shows.
  const counting: ProjectionDefinition<OrdersContract> = {
    name: 'counting-projector',
    contract: ordersContract,
    topics: [TOPICS.inventoryEvents],
    tables: [],
    async apply(tx, events) {
      tx.queue`UPDATE inventory_items SET stock = stock + ${events.length} WHERE product = ${'counted'}`;
    },
  };
  await prisma.inventoryItem.create({ data: { product: 'counted', stock: 0, reserved: 0, updatedAt: new Date() } });
  const projector = isolation.prefix + counting.name;
  const sent: string[] = [];
  const counted = createPrisma(isolation.databaseUrl, { onQuery: (text) => sent.push(text) });
  const cause = ordersContract.command({ type: 'AddInventory', data: { product: 'counted', quantity: 1 } });
  const stockAdded = () => ordersContract.outgoing(ordersContract.event({ type: 'StockAdded', data: { product: 'counted', quantity: 1 } }, cause, new Date()));
  const stock = async () => (await prisma.inventoryItem.findUniqueOrThrow({ where: { product: 'counted' } })).stock;
  const running = await startProjector(counting, bus, counted, createLogger('counting'));
  try {
    // The log may hold earlier tests' inventory events: the projector counts them first.
    const end = (await bus.topicOffsets(bus.topic(TOPICS.inventoryEvents))).reduce((sum, { high }) => sum + BigInt(high), 0n);
    await waitFor(async () => ((await prisma.projectionOffset.aggregate({ where: { projector }, _sum: { nextOffset: true } }))._sum.nextOffset ?? 0n) === end, 60_000, () => 'the counting projector to catch up');
    const base = await stock();
    const [{ topic, partition, offset }] = await bus.publish([stockAdded()]);
    await waitFor(async () => (await stock()) === base + 1, 20_000, () => 'the first event to be counted');
    sent.length = 0;
    await bus.publish([stockAdded()]);
    await waitFor(async () => (await stock()) === base + 2, 20_000, () => 'the second event to be counted');
    // Pipelined, none waiting on an answer: BEGIN, the position checked (not read), the batch, the new position, COMMIT.
    expect(sent.map((text) => text.trim().split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'BEGIN', 'SET LOCAL statement_timeout', 'INSERT INTO projection_offsets', 'SELECT projection_position_expected($1, next_offset)',
      'UPDATE inventory_items SET', 'UPDATE projection_offsets SET', 'SELECT pg_notify($1, $2)', 'COMMIT',
    ]);

    // Another instance applies the partition's next event meanwhile: its effect and its position.
    const where = { projector_topic_partition: { projector, topic, partition } };
    await prisma.$transaction([
      prisma.projectionOffset.update({ where, data: { nextOffset: BigInt(offset) + 3n } }),
      prisma.inventoryItem.update({ where: { product: 'counted' }, data: { stock: { increment: 1 } } }),
    ]);
    await bus.publish([stockAdded(), stockAdded()]); // the one the other instance applied, and one more
    await waitFor(async () => (await prisma.projectionOffset.findUniqueOrThrow({ where })).nextOffset === BigInt(offset) + 4n, 20_000, () => 'the last event to be counted');
    expect(await stock()).toBe(base + 4); // 5 had the moved position gone unnoticed
  } finally {
    await running.stop();
    await counted.$disconnect();
  }
});
