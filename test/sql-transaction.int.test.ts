/**
 * Plain SQL transactions on Prisma's pool (`sqlOf(prisma).transaction`, what projectors apply their batches in):
 * committed when the work resolves, rolled back when it throws, values always sent as parameters (or, in the
 * statements sent with BEGIN and COMMIT, as escaped literals), and every statement bounded in time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, literal, sqlOf, TRANSACTION_STATEMENT_TIMEOUT_MS, type PrismaClient } from '../services/shared/db.ts';
import { freshDatabase } from './support/system.ts';

let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await freshDatabase('tx');
  prisma = createPrisma(database.url, { asyncCommit: true });
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
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

  it('fails, without crashing the process, when PostgreSQL ends its connection mid-transaction; the next one runs on a new connection', async () => {
    const sql = sqlOf(prisma);
    await expect(sql.transaction(async (tx) => {
      await tx.sql`INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES ('terminated', 1, 0, now())`;
      await tx.sql`SELECT pg_terminate_backend(pg_backend_pid())`; // as a restart or an administrator would
    })).rejects.toThrow(/terminat/);
    expect(await stocked('terminated')).toBeUndefined();
    await sql.transaction((tx) => tx.sql`INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES ('after', 1, 0, now())`);
    expect(await stocked('after')).toBe(1);
  });

  it('runs its opening with BEGIN, handing the work its rows, and its closing with COMMIT, in the same transaction', async () => {
    const hostile = "it's\\'); DROP TABLE inventory_items; --";
    const seen = await sqlOf(prisma).transaction(async (tx, opened) => {
      await tx.sql`UPDATE inventory_items SET stock = stock + 1 WHERE product = ${hostile}`;
      return opened;
    }, {
      opening: `INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES (${literal(hostile)}, ${literal(1)}, 0, now()) RETURNING product, stock`,
      closing: () => `UPDATE inventory_items SET reserved = ${literal(2n)} WHERE product = ${literal(hostile)}`,
    });
    expect(seen).toEqual([{ product: hostile, stock: 1 }]);
    expect(await prisma.inventoryItem.findUnique({ where: { product: hostile }, select: { stock: true, reserved: true } })).toEqual({ stock: 2, reserved: 2 });
  });

  it('rolls back the opening and the work when the closing fails', async () => {
    const failure = sqlOf(prisma).transaction(async (tx) => {
      await tx.sql`UPDATE inventory_items SET stock = 10 WHERE product = ${'closing-fails'}`;
    }, {
      opening: `INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES ('closing-fails', 1, 0, now())`,
      closing: () => 'SELECT 1 / 0',
    });
    await expect(failure).rejects.toThrow('division by zero');
    expect(await stocked('closing-fails')).toBeUndefined();
    expect(() => literal(Number.NaN)).toThrow('not a number');
  });

  it('bounds every statement in it, and leaves the connection as it found it', async () => {
    const [inside] = await sqlOf(prisma).transaction((tx) => tx.sql<{ ms: string }>`SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000 AS ms`);
    expect(Number(inside.ms)).toBe(TRANSACTION_STATEMENT_TIMEOUT_MS);
    const [outside] = await sqlOf(prisma).query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(outside.statement_timeout).toBe('0');
  });
});
