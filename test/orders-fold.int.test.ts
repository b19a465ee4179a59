/**
 * The orders domain's fold (services/orders/graphql/feed.ts `statesOf`, which serves live feeds, `order(asOf)` and
 * resumed subscriptions) against its SQL projection (services/orders/projections/orders.ts) on a real PostgreSQL:
 * for random histories of orders (verdicts in any order, passing or failing, an end or none, verdicts decided again
 * later), each projected as a replay may read it (its two topics interleaved at random, in random batches), the
 * fold of the history in time order gives the projection's row.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkCompleted, CHECK_TYPES, TOPICS, type EventEnvelope, type EventOfType } from '../services/orders/contract.ts';
import { statesOf } from '../services/orders/graphql/feed.ts';
import { createOrdersReadModel } from '../services/orders/graphql/read-model.ts';
import { ordersProjection } from '../services/orders/projections/orders.ts';
import { event } from '../services/orders/testing.ts';
import { createPrisma, sqlOf, type PrismaClient } from '../services/shared/db.ts';
import { cursorOf, type IndexedEvent } from '../services/shared/event-index.ts';
import { freshDatabase } from './support/system.ts';
import { random, randomBatches, type Random } from './support/random.ts';

const CASES = 60;
let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await freshDatabase('orders_fold');
  prisma = createPrisma(database.url);
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

/** One order's events in the order its services wrote them, each a few milliseconds (sometimes none) after the last. */
function randomHistory(rng: Random, orderId: string): EventEnvelope[] {
  let clock = Date.UTC(2026, 11, 7, 12) + rng.int(1000);
  const at = () => new Date((clock += rng.pick([0, 1, 3, 40])));
  const created = event({ type: 'OrderCreated', data: { orderId, customerId: 'c', product: 'P', quantity: 1 + rng.int(5), price: 2.5, currency: rng.pick(['EUR', 'USD']) } }, at()) as EventOfType<'OrderCreated'>;
  const log: EventEnvelope[] = [created];
  const verdicts: { checkType: (typeof CHECK_TYPES)[number]; result: 'PASS' | 'FAIL'; reason: string | null }[] = [];
  for (const checkType of rng.shuffle(CHECK_TYPES).slice(0, 1 + rng.int(3))) {
    const result = rng.chance(0.25) ? 'FAIL' : 'PASS';
    const verdict = event(checkCompleted(created, checkType, result, result === 'FAIL' ? 'no' : null), at());
    log.push(verdict);
    verdicts.push({ checkType, result, reason: result === 'FAIL' ? 'no' : null });
  }
  const failed = verdicts.some((v) => v.result === 'FAIL');
  if ((failed || verdicts.length === 3) && rng.chance(0.8)) {
    log.push(event(failed
      ? { type: 'OrderFailed', data: { orderId, product: 'P', checks: verdicts } }
      : { type: 'OrderValidated', data: { orderId, checks: verdicts } }, at()));
  }
  // A verdict decided again after a publish that timed out: the same check, a later time.
  if (rng.chance(0.3)) {
    const again = rng.pick(verdicts);
    log.push(event(checkCompleted(created, again.checkType, again.result, again.reason), at()));
  }
  return log;
}

/** The history as the event index holds it: in time order, then topic and offset. */
function indexed(log: EventEnvelope[]): IndexedEvent[] {
  const topicOf = (e: EventEnvelope) => (e.type === 'OrderCheckCompleted' ? TOPICS.orderValidations : TOPICS.orderEvents);
  return log
    .map((e, offset) => {
      const at = { aggregateId: e.aggregateId, occurredAt: new Date(e.occurredAt), topic: topicOf(e), partition: 0, offset: String(offset) };
      return { ...at, eventId: e.eventId, position: cursorOf(at), type: e.type, commandId: e.correlationId, actor: null, data: e.data };
    })
    .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.topic.localeCompare(b.topic) || Number(a.offset) - Number(b.offset));
}

it(`folds ${CASES} random order histories into the projection's rows`, async () => {
  const reads = createOrdersReadModel(sqlOf(prisma));
  const seed = Date.now() % 1_000_000;
  for (let n = 0; n < CASES; n += 1) {
    const rng = random(seed + n);
    const orderId = `o-${randomUUID()}`;
    const log = randomHistory(rng, orderId);
    const byTopic: EventEnvelope[][] = [log.filter((e) => e.type !== 'OrderCheckCompleted'), log.filter((e) => e.type === 'OrderCheckCompleted')];
    for (const batch of randomBatches(rng, byTopic)) await sqlOf(prisma).transaction((tx) => ordersProjection.apply(tx, batch as never, []));
    const { cursor: _, ...folded } = statesOf(indexed(log)).at(-1)!;
    const projected = await reads.orderWithValidations(orderId);
    expect(folded, `seed ${rng.seed}: ${log.map((e) => `${e.type}@${e.occurredAt.slice(17)}`).join(', ')}`).toEqual(projected);
  }
});
