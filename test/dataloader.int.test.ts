/**
 * Queries are batched: a page of orders with their validations costs the same number of SQL statements
 * whatever its size (no N+1).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../services/shared/db.ts';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { isolate, tokenFor, type Isolation } from './support/system.ts';

let isolation: Isolation;
let prisma: PrismaClient;
let gateway: RunningGateway;
const statements: string[] = [];

beforeAll(async () => {
  isolation = await isolate();
  prisma = createPrisma(isolation.databaseUrl, { onQuery: (sql) => statements.push(sql) });
  gateway = await startGateway({ port: 0, host: '127.0.0.1', prisma });
  // Projection rows written directly: this test is about the read path only.
  const at = Date.parse('2026-11-25T10:00:00Z');
  await prisma.order.createMany({
    data: Array.from({ length: 60 }, (_, i) => ({
      id: `o${String(i).padStart(2, '0')}`, customerId: 'c', product: 'P', quantity: 1, price: 1,
      state: 'VALIDATED' as const, createdAt: new Date(at + i), updatedAt: new Date(at + i),
    })),
  });
  await prisma.orderValidation.createMany({
    data: Array.from({ length: 60 }, (_, i) =>
      (['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK'] as const).map((checkType) => ({
        orderId: `o${String(i).padStart(2, '0')}`, checkType, result: 'PASS' as const, recordedAt: new Date(at),
      })),
    ).flat(),
  });
});
afterAll(async () => {
  await gateway?.stop();
  await prisma?.$disconnect();
  await isolation?.drop();
});

async function statementsFor(first: number) {
  statements.length = 0;
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('admin', ['admin'])}` },
    body: JSON.stringify({ query: `{ orders(first: ${first}) { edges { node { id validations { checkType result } } } } }` }),
  });
  const body = await response.json();
  expect(body.errors).toBeUndefined();
  expect(body.data.orders.edges).toHaveLength(first);
  expect(body.data.orders.edges.every((e: any) => e.node.validations.length === 3)).toBe(true);
  // Only the page's own reads: the gateway's readiness sampler shares the client and reads projection_offsets.
  return statements.filter((sql) => /\b(orders|order_validations)\b/.test(sql)).length;
}

it('issues a constant number of statements for a page of orders with validations', async () => {
  const small = await statementsFor(5);
  const large = await statementsFor(50);
  expect(small).toBe(2); // the page, then every page's validations at once
  expect(large).toBe(small);
});

it('is alive but not ready, naming PostgreSQL, when the database is unreachable', async () => {
  const unreachable = createPrisma('postgresql://postgres@127.0.0.1:1/nowhere');
  const broken = await startGateway({ port: 0, host: '127.0.0.1', prisma: unreachable });
  try {
    const alive = await fetch(broken.url.replace('/graphql', '/healthz'));
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ status: 'ok', kafka: 'ok', postgres: 'unreachable' });
    const ready = await fetch(broken.url.replace('/graphql', '/readyz'));
    expect(ready.status).toBe(503);
    expect((await ready.json()).reasons).toEqual(expect.arrayContaining([expect.stringMatching(/PostgreSQL/)]));
  } finally {
    await broken.stop();
    await unreachable.$disconnect();
  }
});
