/**
 * The kafkajs fixes (services/shared/kafkajs-patches.ts) reach the clients the bus makes, on the real broker: a real
 * admin client's connection checks its queue through the patched class, and stops once it has nothing to send; a
 * task producer finds its transaction coordinator once, not at every step of every transaction; a group member that
 * cannot reach its coordinator looks it up again and rejoins as the same member; a transaction of offsets only, begun
 * while the previous one still ends, waits for it instead of failing.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import { expect, it, vi } from 'vitest';
import { createBus, createKafka, joined, type Bus, type BusOptions } from '../services/shared/bus.ts';
import { KafkaRequestQueue } from '../services/shared/kafkajs-patches.ts';
import { tallyContract, TOPICS } from './fixtures/tally/contract.ts';
import { ownTopics } from './support/system.ts';

/** Runs `test` on a bus of its own, under a fresh topic prefix with the tally fixture's topics and schemas, all removed after. */
async function onOwnTopics(clientId: string, test: (bus: Bus) => Promise<void>, options: Partial<BusOptions> = {}): Promise<void> {
  const prefix = `patches-${randomUUID().slice(0, 8)}.`;
  const topics = await ownTopics(prefix, [tallyContract]);
  const bus = await createBus({ clientId, prefix, ...options });
  try {
    await test(bus);
  } finally {
    await bus.close();
    await topics.drop();
  }
}

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

it('a task producer finds its transaction coordinator once for several transactions, not before every step', () =>
  onOwnTopics('coordinator-test', async (bus) => {
    const task = await bus.taskProducer('coordinator-test.task-0');
    // kafkajs names FindCoordinator by its old name.
    const before = bus.requestCounts().GroupCoordinator ?? 0;
    for (let i = 0; i < 5; i += 1) {
      await task.transaction(async (txn) => {
        await txn.publish([tallyContract.outgoing(tallyContract.command({ type: 'AddToTally', data: { tally: `P-${i}`, amount: 1 } }))]);
        txn.consumed('coordinator-test', bus.topic(TOPICS.commands), 0, String(i + 1));
      });
    }
    // Unpatched: one lookup of the transaction coordinator before AddPartitionsToTxn, AddOffsetsToTxn and EndTxn
    // each, and one of the group's for TxnOffsetCommit: 20. Patched: the group's each time, the transaction's kept.
    expect((bus.requestCounts().GroupCoordinator ?? 0) - before).toBeLessThanOrEqual(6);
    await task.close();
  }));

/** Heartbeat's API key. */
const HEARTBEAT = 12;

/**
 * kafkajs sockets whose Heartbeat requests, for a while, find their connection broken (reset, as by a broker that was
 * killed), while the group's other requests (FindCoordinator, JoinGroup) and fetches go through: with one broker, the
 * closest to a coordinator that died while another broker took its groups over.
 */
function heartbeatBreakingSockets() {
  let breakingUntil = 0;
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      // A request: its size (int32), then its API key (int16).
      if (Date.now() < breakingUntil && Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === HEARTBEAT) {
        socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        return false;
      }
      return write(chunk, ...rest);
    }) as typeof socket.write;
    return socket;
  };
  return { socketFactory, breakHeartbeats: (ms: number) => void (breakingUntil = Date.now() + ms) };
}

it('a group member that cannot reach its coordinator looks it up again and rejoins as the same member', () => {
  const sockets = heartbeatBreakingSockets();
  return onOwnTopics('heartbeat-test', async (bus) => {
    const consumer = bus.createConsumer('heartbeat-test');
    const joins: string[] = [];
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => void joins.push(payload.memberId));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [bus.topic(TOPICS.commands)] });
      const first = joined(consumer);
      await consumer.run({ eachMessage: async () => {} });
      await first;
      sockets.breakHeartbeats(3_000);
      // Unpatched, kafkajs sends its heartbeats to the same coordinator until its retries run out (a dead one never
      // answers again) and never looks it up again: no join follows. Patched, the member finds the coordinator again
      // and joins it as itself, so it keeps its partitions (a new member id would renew every task of a service).
      await vi.waitFor(() => expect(joins.length).toBeGreaterThanOrEqual(2), { timeout: 15_000, interval: 100 });
      expect(joins[1]).toBe(joins[0]);
    } finally {
      await consumer.disconnect().catch(() => {});
    }
  }, { socketFactory: sockets.socketFactory });
});

it('a transaction of offsets only, begun as the previous one commits, waits for it instead of failing', () =>
  onOwnTopics('busy-test', async (bus) => {
    const task = await bus.taskProducer('busy-test.task-0');
    const input = bus.topic(TOPICS.commands);
    // As a task moving its group past a fetch of transaction markers, right after the commit that wrote them. Its
    // AddOffsetsToTxn reaches the coordinator while it still writes the previous transaction's markers: unpatched, the
    // answer CONCURRENT_TRANSACTIONS failed the transaction (here within the first few of these 30).
    for (let i = 0; i < 30; i += 1) await task.transaction(async (txn) => txn.consumed('busy-test', input, 0, String(i + 1)));
    expect(await bus.committedOffsets('busy-test', input)).toEqual(new Map([[0, 30n]]));
    await task.close();
  }));
