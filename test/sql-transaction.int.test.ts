/**
 * Plain SQL transactions on Prisma's pool (`sqlOf(prisma).transaction`, what projectors apply their batches in):
 * committed when the work resolves, rolled back when it throws, values always sent as parameters, and every
 * statement bounded in time.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { dropDatabase, migrate } from '../infra/database.ts';
import { createPrisma, sqlOf, TRANSACTION_STATEMENT_TIMEOUT_MS, type PrismaClient } from '../services/shared/db.ts';

let url: string;
let prisma: PrismaClient;

beforeAll(async () => {
  const target = new URL(inject('databaseUrl'));
  target.pathname = `/gateway_test_tx_${randomUUID().slice(0, 8)}`;
  url = target.toString();
  await migrate(url);
  prisma = createPrisma(url, { asyncCommit: true });
});
afterAll(async () => {
  await prisma.$disconnect();
  await dropDatabase(url);
});

const stocked = async (product: string) => (await prisma.inventoryItem.findUnique({ where: { product } }))?.stock;

describe('sqlOf(prisma).transaction', () => {
  it('commits what the work wrote once it resolves, with bigints, Dates and arrays as parameters', async () => {
    const at = new Date('2026-11-26T10:00:00.123Z');
    const rows = await sqlOf(prisma).transaction((tx) => tx.sql<{ product: string; stock: number }>`
      INSERT INTO inventory_items (product, stock, reserved, updated_at)
      SELECT * FROM unnest(${['a', "b'; DROP TABLE inventory_items; --"]}::text[], ${[1n, 2n]}::int[], ${[0, 0]}::int[], ${[at, at]}::timestamptz[])
      RETURNING product, stock`);
    expect(rows).toEqual([{ product: 'a', stock: 1 }, { product: "b'; DROP TABLE inventory_items; --", stock: 2 }]);
    expect(await stocked('a')).toBe(1);
    expect((await prisma.inventoryItem.findUnique({ where: { product: 'a' } }))?.updatedAt.toISOString()).toBe(at.toISOString());
  });

  it('rolls back everything the work wrote when it throws, and passes the error on', async () => {
    const failure = sqlOf(prisma).transaction(async (tx) => {
      await tx.sql`INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES (${'rolled-back'}, ${5}, ${0}, now())`;
      throw new Error('the work failed');
    });
    await expect(failure).rejects.toThrow('the work failed');
    expect(await stocked('rolled-back')).toBeUndefined();
  });

  it('bounds every statement in it, and leaves the connection as it found it', async () => {
    const [inside] = await sqlOf(prisma).transaction((tx) => tx.sql<{ ms: string }>`SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000 AS ms`);
    expect(Number(inside.ms)).toBe(TRANSACTION_STATEMENT_TIMEOUT_MS);
    const [outside] = await sqlOf(prisma).query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(outside.statement_timeout).toBe('0');
  });
});
