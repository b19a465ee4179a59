/**
 * The bus on real Kafka: concurrent publishes share produce requests (the idempotent producer keeps one in flight,
 * so one request per caller would cap a gateway at one round trip per mutation), and every caller still learns
 * exactly where its own messages landed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ordersContract, TOPICS } from '../services/orders/contract.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { isolate, type Isolation } from './support/system.ts';

let isolation: Isolation;
let bus: Bus;
beforeAll(async () => {
  isolation = await isolate();
  bus = await createBus({ clientId: 'bus-test' });
});
afterAll(async () => {
  await bus?.close();
  await isolation?.drop();
});

it('gathers concurrent publishes into few requests, and answers each caller with its own positions', async () => {
  const commands = Array.from({ length: 300 }, (_, i) =>
    ordersContract.command({ type: 'AddInventory', data: { product: `P${i % 7}-${randomUUID().slice(0, 4)}`, quantity: i + 1 } }));
  const before = (bus.requestCounts().Produce ?? 0);
  const positions = await Promise.all(commands.map((c) => bus.publish([ordersContract.outgoing(c)])));
  const requests = (bus.requestCounts().Produce ?? 0) - before;
  expect(requests).toBeGreaterThan(0);
  expect(requests).toBeLessThan(commands.length / 5);

  // Each caller's position holds its own command.
  const log = await readTopic(bus, bus.topic(TOPICS.inventoryCommands));
  const at = new Map(log.map((m) => [`${m.partition}:${m.offset}`, m.value?.toString()]));
  commands.forEach((command, i) => {
    expect(positions[i]).toHaveLength(1);
    const [{ topic, partition, offset }] = positions[i];
    expect(topic).toBe(bus.topic(TOPICS.inventoryCommands));
    expect(JSON.parse(at.get(`${partition}:${offset}`)!).commandId).toBe(command.commandId);
  });
});
