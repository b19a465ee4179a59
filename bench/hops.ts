/**
 * Where one order's time goes (issue 9): orders placed one at a time, each `placeOrder` then `awaitOrder`, and
 * afterwards each hop of its path timed from what the log and the database say: the Kafka timestamp of every
 * message (its producer's clock, this machine's), when the orders projector announced it had applied an event
 * (its progress notification, heard here), and when the client got each answer.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { TOPICS } from '../services/orders/contract.ts';
import { createKafka } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { PROGRESS_CHANNEL, type ProjectionProgress } from '../services/shared/projector.ts';
import { graphql } from './measure.ts';
import type { BenchSystem } from './system.ts';
import { jsonOf, schemaIds } from '../services/shared/wire.ts';

const CHECKS = ['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK'] as const;

export interface Hop { hop: string; p50: number; p90: number }

/** Per order: when each of its steps happened, epoch ms. */
type Steps = Record<string, number>;

export async function orderHops(system: BenchSystem, product: string, orders: number): Promise<Hop[]> {
  const heard: (ProjectionProgress & { at: number })[] = [];
  const listener = new pg.Client({ connectionString: system.databaseUrl });
  await listener.connect();
  listener.on('notification', (n) => heard.push({ ...(JSON.parse(n.payload!) as ProjectionProgress), at: Date.now() }));
  await listener.query(`LISTEN ${PROGRESS_CHANNEL}`);

  const steps = new Map<string, Steps>();
  const place = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
  const wait = `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 30000) { state } }`;
  for (let i = 0; i < orders; i += 1) {
    const sent = Date.now();
    const { placeOrder } = await graphql(system.url, place, { input: { customerId: `bench-${randomUUID()}`, product, quantity: 1, price: 1 } });
    const placed = Date.now();
    await graphql(system.url, wait, { id: placeOrder.id });
    steps.set(placeOrder.id, { sent, placed, awaited: Date.now() });
  }
  await listener.end();

  // The log, read back: every message of these orders, and the replies to their commands.
  const commandOf = new Map<string, string>(); // commandId → orderId
  const kafka = createKafka('bench-hops', system.kafkaBrokers.split(','));
  const admin = kafka.admin();
  await admin.connect();
  const topics = [TOPICS.orderCommands, TOPICS.orderEvents, TOPICS.orderValidations, RUNTIME_TOPICS.commandReplies].map((t) => system.topicPrefix + t);
  // Per partition, the last offset to reach: with transactions, markers take offsets too and are never delivered, so
  // the end is told by kafkajs's end of each batch (markers included), not by counting messages.
  const remaining = new Map<string, bigint>();
  for (const topic of topics) {
    for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) if (BigInt(high) > BigInt(low)) remaining.set(`${topic}:${partition}`, BigInt(high) - 1n);
  }
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `bench-hops-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((done) => {
    if (!remaining.size) return done();
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const at = `${payload.topic}:${payload.partition}`;
      if (BigInt(payload.lastOffset) >= (remaining.get(at) ?? BigInt(Number.MAX_SAFE_INTEGER))) remaining.delete(at);
      if (!remaining.size) done();
    });
    void consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const at = Number(message.timestamp);
        await schemaIds().learn([message.value]);
        const value = jsonOf(schemaIds(), message.value) as { type?: string; commandId?: string; data?: { orderId?: string; checkType?: string } };
        if (topic.endsWith(RUNTIME_TOPICS.commandReplies)) {
          const orderId = commandOf.get(value.commandId!);
          if (orderId) steps.get(orderId)!.reply = at;
        } else {
          const order = value.data?.orderId === undefined ? undefined : steps.get(value.data.orderId);
          if (order) {
            if (value.type === 'PlaceOrder') commandOf.set(value.commandId!, value.data!.orderId!);
            const step = value.type === 'OrderCheckCompleted' ? value.data!.checkType! : value.type!;
            order[step] = Math.min(order[step] ?? Infinity, at);
            const projected = heard.find((h) => h.projector.endsWith('orders-projector') && h.topic === topic && h.partition === partition && BigInt(h.nextOffset) > BigInt(message.offset));
            if (projected && topic.endsWith(TOPICS.orderEvents)) order[`${step} projected`] = projected.at;
          }
        }
      },
    });
  });
  await consumer.disconnect();

  const hops: [string, (s: Steps) => number][] = [
    ['gateway: request → PlaceOrder in Kafka', (s) => s.PlaceOrder - s.sent],
    ['orders service: PlaceOrder → OrderCreated', (s) => s.OrderCreated - s.PlaceOrder],
    ['orders projector: OrderCreated → applied (notified)', (s) => s['OrderCreated projected'] - s.OrderCreated],
    ['gateway: reply → placeOrder answered', (s) => s.placed - s.reply],
    ['checks: OrderCreated → the last of the three verdicts', (s) => Math.max(...CHECKS.map((c) => s[c])) - s.OrderCreated],
    ['orders service: last verdict → OrderValidated', (s) => s.OrderValidated - Math.max(...CHECKS.map((c) => s[c]))],
    ['orders projector: OrderValidated → applied (notified)', (s) => s['OrderValidated projected'] - s.OrderValidated],
    ['gateway: applied → awaitOrder answered', (s) => s.awaited - s['OrderValidated projected']],
    ['in all: placeOrder sent → awaitOrder answered', (s) => s.awaited - s.sent],
  ];
  return hops.map(([hop, of]) => {
    const values = [...steps.values()].map(of).filter(Number.isFinite).sort((a, b) => a - b);
    const at = (p: number) => values[Math.min(values.length - 1, Math.floor(p * values.length))] ?? NaN;
    return { hop, p50: at(0.5), p90: at(0.9) };
  });
}
