/**
 * The kafkajs fixes (services/shared/kafkajs-patches.ts) reach the clients the bus makes, on the real broker: a real
 * admin client's connection checks its queue through the patched class, and stops once it has nothing to send; a
 * task producer finds its transaction coordinator once, not at every step of every transaction.
 */
import { randomUUID } from 'node:crypto';
import { expect, it, vi } from 'vitest';
import { createBus, createKafka, deleteTopicsAndGroups, ensureTopics } from '../services/shared/bus.ts';
import { KafkaRequestQueue } from '../services/shared/kafkajs-patches.ts';
import { ordersContract, TOPICS } from '../services/orders/contract.ts';

it('a client made by the bus checks its request queue only while it has requests, not every millisecond', async () => {
  const checks = vi.spyOn(KafkaRequestQueue.prototype, 'checkPendingRequests');
  const admin = createKafka('request-queue-test').admin();
  try {
    await admin.connect();
    await admin.listTopics();
    // The answers above went through this very class: the fix is on the queue kafkajs uses.
    expect(checks.mock.calls.length).toBeGreaterThan(0);
    checks.mockClear();
    await new Promise((r) => setTimeout(r, 300));
    // Idle: kafkajs 2.2.4 unpatched checks about 900 times a second per connection.
    expect(checks.mock.calls.length).toBeLessThan(5);
  } finally {
    checks.mockRestore();
    await admin.disconnect();
  }
});

it('a task producer finds its transaction coordinator once for several transactions, not before every step', async () => {
  const prefix = `patches-${randomUUID().slice(0, 8)}.`;
  const kafka = createKafka('coordinator-test');
  await ensureTopics(kafka, new Map([[TOPICS.inventoryCommands, {}]]), prefix);
  const bus = await createBus({ clientId: 'coordinator-test', prefix });
  try {
    const task = await bus.taskProducer('coordinator-test.task-0');
    // kafkajs names FindCoordinator by its old name.
    const before = bus.requestCounts().GroupCoordinator ?? 0;
    for (let i = 0; i < 5; i += 1) {
      await task.transaction(async (txn) => {
        await txn.publish([ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product: `P-${i}`, quantity: 1 } }))]);
        txn.consumed('coordinator-test', bus.topic(TOPICS.inventoryCommands), 0, String(i + 1));
      });
    }
    // Unpatched: one lookup of the transaction coordinator before AddPartitionsToTxn, AddOffsetsToTxn and EndTxn
    // each, and one of the group's for TxnOffsetCommit: 20. Patched: the group's each time, the transaction's kept.
    expect((bus.requestCounts().GroupCoordinator ?? 0) - before).toBeLessThanOrEqual(6);
    await task.close();
  } finally {
    await bus.close();
    await deleteTopicsAndGroups(kafka, prefix);
  }
});
