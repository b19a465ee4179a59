/**
 * The orders read model (plain SQL) answers as Prisma's query builder does on the same rows: same rows, same
 * order, same cursor semantics, Dates for timestamps, prices as the numbers Decimal.toNumber() gives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrdersReadModel, type OrderCursor, type OrdersReadModel } from '../services/orders/graphql/read-model.ts';
import { createPrisma, sqlOf, type Prisma, type PrismaClient } from '../services/shared/db.ts';
import { freshDatabase } from './support/system.ts';

let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;
let reads: OrdersReadModel;
const CHECKS = ['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK'] as const;
const STATES = ['CREATED', 'VALIDATED', 'FAILED'] as const;

beforeAll(async () => {
  database = await freshDatabase('reads');
  prisma = createPrisma(database.url);
  reads = createOrdersReadModel(sqlOf(prisma));
  const at = Date.parse('2026-11-25T10:00:00.000Z');
  // Three orders per instant, so cursors must break ties by id; ids not in time order.
  const orders = Array.from({ length: 45 }, (_, i) => ({
    id: `o-${((i * 7) % 45).toString().padStart(2, '0')}`, customerId: `c${i % 3}`, product: 'P', quantity: 1 + (i % 4),
    price: (i * 1.37 + 0.01).toFixed(2), state: STATES[i % 3]!, createdAt: new Date(at + Math.floor(i / 3)), updatedAt: new Date(at + i),
  }));
  await prisma.order.createMany({ data: orders });
  await prisma.orderValidation.createMany({
    data: orders.flatMap((order, i) => CHECKS.slice(0, i % 4).reverse().map((checkType) => ({
      orderId: order.id, checkType, result: i % 2 ? 'PASS' as const : 'FAIL' as const, reason: i % 2 ? null : 'no', recordedAt: new Date(at),
    }))),
  });
  await prisma.inventoryItem.createMany({
    data: ['b', 'A', 'a'].map((product, i) => ({ product, stock: 10 + i, reserved: i, updatedAt: new Date(at) })),
  });
});
afterAll(async () => {
  await prisma?.$disconnect();
  await database?.drop();
});

const withNumberPrices = <Row extends { price: Prisma.Decimal }>(rows: Row[]) => rows.map((row) => ({ ...row, price: row.price.toNumber() }));

describe('the orders read model', () => {
  it('pages as findMany does: filters, (createdAt, id) order, exclusive cursor, limit', async () => {
    const all = await prisma.order.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    const cursors: (OrderCursor | undefined)[] = [undefined, ...[0, 1, 2, 20, 44].map((i) => ({ createdAt: all[i]!.createdAt, id: all[i]!.id }))];
    for (const customerId of [undefined, 'c1', 'nobody']) {
      for (const state of [undefined, 'FAILED'] as const) {
        for (const after of cursors) {
          for (const limit of [1, 4, 46]) {
            const where: Prisma.OrderWhereInput = { customerId, state };
            if (after) where.OR = [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }];
            const expected = await prisma.order.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: limit });
            expect(await reads.page({ customerId, state, after, limit })).toStrictEqual(withNumberPrices(expected));
          }
        }
      }
    }
  });

  it('finds orders and their verdicts by id, verdicts in check order', async () => {
    const ids = ['o-03', 'o-10', 'o-44', 'missing'];
    const byId = (rows: { id: string }[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(await reads.ordersByIds(ids))).toStrictEqual(byId(withNumberPrices(await prisma.order.findMany({ where: { id: { in: ids } } }))));
    const expected = await prisma.orderValidation.findMany({ where: { orderId: { in: ids } }, orderBy: { checkType: 'asc' } });
    const verdicts = await reads.validationsByOrderIds(ids);
    for (const id of ids) expect(verdicts.filter((v) => v.orderId === id)).toStrictEqual(expected.filter((v) => v.orderId === id));
  });

  it('reads one order with its verdicts in one statement, as findMany reads each', async () => {
    const statements: string[] = [];
    const counted = createPrisma(database.url, { onQuery: (text) => statements.push(text) });
    try {
      const one = createOrdersReadModel(sqlOf(counted));
      for (const id of ['o-00', 'o-03', 'o-07', 'o-44']) {
        const [order] = withNumberPrices(await prisma.order.findMany({ where: { id } }));
        const validations = await prisma.orderValidation.findMany({ where: { orderId: id }, orderBy: { checkType: 'asc' } });
        statements.length = 0;
        expect(await one.orderWithValidations(id)).toStrictEqual({ ...order, validations });
        expect(statements).toHaveLength(1);
      }
      expect(await one.orderWithValidations('missing')).toBeNull();
    } finally {
      await counted.$disconnect();
    }
  });

  it('reads stock as findMany does', async () => {
    expect(await reads.inventory()).toStrictEqual(await prisma.inventoryItem.findMany({ orderBy: { product: 'asc' } }));
    const some = await reads.inventoryByProducts(['a', 'nothing']);
    expect(some).toStrictEqual(await prisma.inventoryItem.findMany({ where: { product: { in: ['a', 'nothing'] } } }));
  });
});
