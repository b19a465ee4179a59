/**
 * Plain SQL transactions on Prisma's pool (`sqlOf(prisma).transaction`, what projectors apply their batches in):
 * committed when the work resolves, rolled back when it throws, values always parameters, statements sent in
 * pipeline mode (the first failure is the transaction's), and every statement bounded in time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, sqlOf, statementOf, TRANSACTION_STATEMENT_TIMEOUT_MS, type PrismaClient } from '../services/shared/db.ts';
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

  it('sends every value as a parameter, never in the text, and the statements of a transaction without waiting on each other', async () => {
    const sent: string[] = [];
    const counting = createPrisma(database.url, { onQuery: (text) => sent.push(text) });
    try {
      await sqlOf(counting).transaction(async (tx) => {
        tx.queue`INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES (${"one-trip'"}, ${1}, ${0}, now())`;
        tx.queue`UPDATE inventory_items SET stock = stock + 1 WHERE product = ${"one-trip'"}`;
      }, { closing: () => [statementOf`UPDATE inventory_items SET reserved = ${2n} WHERE product = ${"one-trip'"}`] });
      expect(sent.filter((text) => text.includes('inventory_items'))).toEqual([
        'INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES ($1, $2, $3, now())',
        'UPDATE inventory_items SET stock = stock + 1 WHERE product = $1',
        'UPDATE inventory_items SET reserved = $1 WHERE product = $2',
      ]);
      expect(await prisma.inventoryItem.findUnique({ where: { product: "one-trip'" }, select: { stock: true, reserved: true } })).toEqual({ stock: 2, reserved: 2 });

      const read = await sqlOf(counting).transaction(async (tx) => {
        tx.queue`UPDATE inventory_items SET stock = 7 WHERE product = ${"one-trip'"}`;
        const rows = await tx.sql<{ stock: number }>`SELECT stock FROM inventory_items WHERE product = ${"one-trip'"}`; // sees the queued write
        tx.queue`UPDATE inventory_items SET stock = 8 WHERE product = ${"one-trip'"}`;
        return rows;
      });
      expect(read).toEqual([{ stock: 7 }]);
      expect(await stocked("one-trip'")).toBe(8);
    } finally {
      await counting.$disconnect();
    }
  });

  it('fails with the first statement that failed, its SQLSTATE kept, and rolls back everything sent with it', async () => {
    const failure = sqlOf(prisma).transaction(async (tx) => {
      tx.queue`INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES ('first-failure', 1, 0, now())`;
      tx.queue`SELECT projection_position_expected(${5n}, ${6n})`;
      tx.queue`UPDATE inventory_items SET stock = 3 WHERE product = 'first-failure'`; // refused: the transaction is aborted
    });
    await expect(failure).rejects.toMatchObject({ code: 'PP001', message: 'projection position moved to 6, expected 5' });
    expect(await stocked('first-failure')).toBeUndefined();
  });

  it('writes hostile values exactly as given: quotes, backslashes, array syntax, NULLs, bigints, floats and Dates', async () => {
    const hostile = ["it's\\'); DROP TABLE inventory_items; --", '{"a",b}', 'NULL', '', 'back\\slash "quote" ,comma {brace}', 'ünïcödé ✓'];
    const at = new Date('2026-11-26T10:00:00.123Z');
    const [row] = await sqlOf(prisma).transaction((tx) => tx.sql<Record<string, unknown>>`
      SELECT ${hostile}::text[] AS texts, ${[null, 'x', undefined]}::text[] AS nulls, ${9007199254740993n}::numeric AS big,
             ${[0.1, -1e-7, 1.7976931348623157e308]}::float8[] AS floats, ${at}::timestamptz AS at, ${hostile[0]} AS one,
             ${true}::boolean AS yes, ${null}::text AS none`);
    expect(row).toEqual({
      texts: hostile, nulls: [null, 'x', null], big: '9007199254740993', floats: [0.1, -1e-7, 1.7976931348623157e308], at, one: hostile[0], yes: true, none: null,
    });
    const [{ difference }] = await sqlOf(prisma).transaction((tx) => tx.sql<{ difference: number }>`SELECT 1-${-5} AS difference, 1 -${-2n}`);
    expect(difference).toBe(6); // not `1--5`, a comment
    const [{ fraction, holes }] = await sqlOf(prisma).transaction(async (tx) => {
      tx.queue`SELECT 1 -- a comment at the end of a statement does not swallow the next one`;
      return tx.sql<{ fraction: string; holes: string[] }>`SELECT ${2.5}::numeric AS fraction, ${[1, , 2] as number[]}::text[] AS holes`;
    });
    expect({ fraction, holes }).toEqual({ fraction: '2.5', holes: ['1', null, '2'] });
    await expect(sqlOf(prisma).transaction((tx) => tx.sql`SELECT ${2.5}::int`)).rejects.toThrow(/invalid input syntax for type integer/); // refused, not rounded
    expect(() => statementOf`${Number.NaN}`).toThrow('not a number');
    expect(() => statementOf`${[{}] as never}`).toThrow('cannot be an SQL value');
    expect(() => statementOf`${[[1]] as never}`).toThrow('nested arrays');
    expect(() => statementOf`${{} as never}`).toThrow('cannot be an SQL value');
    expect(() => statementOf`${'a\u0000b'}`).toThrow('NUL character (0x00)');
    expect(() => statementOf`${['a\u0000b']}`).toThrow('NUL character (0x00)');
  });

  it('rolls back the queued statements and the work when the closing fails', async () => {
    const failure = sqlOf(prisma).transaction(async (tx) => {
      tx.queue`INSERT INTO inventory_items (product, stock, reserved, updated_at) VALUES ('closing-fails', 1, 0, now())`;
      await tx.sql`UPDATE inventory_items SET stock = 10 WHERE product = ${'closing-fails'}`;
    }, { closing: () => [statementOf`SELECT 1 / ${0}::int`] });
    await expect(failure).rejects.toThrow('division by zero');
    expect(await stocked('closing-fails')).toBeUndefined();
  });

  it('bounds every statement in it, and leaves the connection as it found it', async () => {
    const [inside] = await sqlOf(prisma).transaction((tx) => tx.sql<{ ms: string }>`SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000 AS ms`);
    expect(Number(inside.ms)).toBe(TRANSACTION_STATEMENT_TIMEOUT_MS);
    const [outside] = await sqlOf(prisma).query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(outside.statement_timeout).toBe('0');
  });
});
