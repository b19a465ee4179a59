/**
 * The orders projection (services/orders/projections/orders.ts) on a real PostgreSQL gives the same rows whatever
 * way its two topics' events are split into batches and interleaved, as a replay of the log must: the verdicts
 * topic projected ahead of the order's creation, and a verdict decided again after a publish that timed out (same
 * check, a later time) projected after the order ended. The order's `updated_at` is its terminal event's time.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCompleted, type EventOfType } from '../services/orders/contract.ts';
import { ordersProjection } from '../services/orders/projections/orders.ts';
import { event } from '../services/orders/testing.ts';
import { createPrisma, sqlOf, type PrismaClient } from '../services/shared/db.ts';
import { freshDatabase } from './support/system.ts';

let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await freshDatabase('orders_projection');
  prisma = createPrisma(database.url);
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

const at = (second: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, second));

/** One order's events: created, three verdicts, validated, then the fraud verdict again, decided later. */
function history(orderId: string) {
  const created = event({ type: 'OrderCreated', data: { orderId, customerId: 'c1', product: 'P', quantity: 1, price: 5, currency: 'EUR' } }, at(0)) as EventOfType<'OrderCreated'>;
  const verdicts = (['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK'] as const).map((check, i) => event(checkCompleted(created, check, 'PASS'), at(1 + i)));
  const checks = verdicts.map((v) => ('checkType' in v.data ? { checkType: v.data.checkType, result: v.data.result, reason: v.data.reason } : undefined)!);
  const validated = event({ type: 'OrderValidated', data: { orderId, checks } }, at(5));
  const again = { ...verdicts[1], occurredAt: at(9).toISOString() };
  return { created, verdicts, validated, again };
}

async function project(batches: ReturnType<typeof event>[][]) {
  for (const batch of batches) await sqlOf(prisma).transaction((tx) => ordersProjection.apply(tx, batch as never, []));
}

async function rowsOf(orderId: string) {
  const order = await prisma.order.findUnique({ where: { id: orderId } });
  const validations = await prisma.orderValidation.findMany({ where: { orderId }, orderBy: { checkType: 'asc' } });
  return { state: order?.state, updatedAt: order?.updatedAt.toISOString(), validations: validations.map((v) => [v.checkType, v.recordedAt.toISOString()]) };
}

describe('the orders projection', () => {
  it('gives the same row however its topics and batches interleave, dated by the terminal event', async () => {
    const inOrder = `o-${randomUUID()}`;
    const a = history(inOrder);
    await project([[a.created], a.verdicts, [a.validated], [a.again]]);

    const verdictsFirst = `o-${randomUUID()}`;
    const b = history(verdictsFirst);
    await project([[...b.verdicts, b.again], [b.created, b.validated]]);

    const oneBatch = `o-${randomUUID()}`;
    const c = history(oneBatch);
    await project([[c.created, ...c.verdicts, c.again, c.validated, c.again]]);

    const expected = {
      state: 'VALIDATED',
      updatedAt: at(5).toISOString(),
      validations: [['INVENTORY_CHECK', at(1).toISOString()], ['FRAUD_CHECK', at(2).toISOString()], ['ORDER_DETAILS_CHECK', at(3).toISOString()]], // the enum's order
    };
    expect(await rowsOf(inOrder)).toEqual(expected);
    expect(await rowsOf(verdictsFirst)).toEqual(expected);
    expect(await rowsOf(oneBatch)).toEqual(expected);
  });
});
