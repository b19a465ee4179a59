/**
 * The log as an API (issue 22), measured:
 * - a page of 50 events of one entity's history, server time: the real schema executed in process as the gateway
 *   executes a query (graphql-jit) against PostgreSQL (an order with 60 events in the event index of a fresh
 *   database), after a warm-up;
 * - resume after missed events: orders settled while nobody watched, then one graphql-ws client resuming
 *   `orderUpdated(after:)` for each from its creation's cursor: the time from the subscribes to the last missed state.
 */
import { randomUUID } from 'node:crypto';
import { parse, type OperationDefinitionNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { makeExecutableSchema } from '@graphql-tools/schema';
import WebSocket from 'ws';
import { eventResolvers } from '../gateway/events.ts';
import { createExecutor } from '../gateway/executor.ts';
import { DateTime } from '../gateway/scalars.ts';
import { readSchema } from '../gateway/schema.ts';
import { dropDatabase, migrate } from '../infra/database.ts';
import { TOPICS } from '../services/orders/contract.ts';
import { createLoaders } from '../services/orders/graphql/context.ts';
import { createOrdersReadModel } from '../services/orders/graphql/read-model.ts';
import { resolvers } from '../services/orders/graphql/resolvers.ts';
import { createPrisma, sqlOf } from '../services/shared/db.ts';
import { createEventIndexReader } from '../services/shared/event-index.ts';
import { BENCH_ADMIN, connectionParams, graphql, histogram, load, micros, percentiles } from './measure.ts';
import type { BenchSystem } from './system.ts';

const PAGE_EVENTS = 60;
/** Subscriptions one socket may run (the gateway's MAX_SUBSCRIPTIONS_PER_SOCKET default). */
const PER_SOCKET = 100;
const PAGE_RUNS = 500;
const PAGE_QUERY = `query($id: ID!) { order(id: $id) { history(first: 50) {
  edges { cursor node { position type occurredAt commandId actor { sub roles } data } } pageInfo { hasNextPage endCursor } } } }`;

/** Server time of one history page of 50 events, p50 / p99 ms. */
export async function historyPageTime(databaseUrl: string) {
  const url = new URL(databaseUrl);
  url.pathname = `/gateway_bench_history_${randomUUID().slice(0, 8)}`;
  await migrate(url.toString());
  const prisma = createPrisma(url.toString());
  const sql = sqlOf(prisma);
  try {
    const orderId = 'bench-history';
    const start = Date.UTC(2026, 11, 7, 12);
    await sql.query(`INSERT INTO orders (id, customer_id, product, quantity, price, currency, state, created_at, updated_at)
      VALUES ($1, 'c', 'P', 1, 1, 'EUR', 'CREATED', $2, $2)`, [orderId, new Date(start).toISOString()]);
    await sql.query(
      `INSERT INTO event_index (event_id, aggregate_id, occurred_at, topic, partition, "offset", type, correlation_id, actor, data)
       SELECT 'e' || i, $1, to_timestamp($2::float8 / 1000 + i), $3, 0, i, 'OrderCheckCompleted', 'c-1', '{"sub":"bench","roles":["admin"]}', $4::jsonb
       FROM generate_series(1, $5) AS i`,
      [orderId, start, TOPICS.orderValidations, JSON.stringify({ orderId, checkType: 'FRAUD_CHECK', result: 'PASS', reason: null }), PAGE_EVENTS],
    );
    const reads = createOrdersReadModel(sql);
    const events = createEventIndexReader(sql);
    const schema = makeExecutableSchema({ typeDefs: readSchema(), resolvers: [{ DateTime }, eventResolvers, resolvers] as never });
    const document = parse(PAGE_QUERY);
    const operation = document.definitions[0] as OperationDefinitionNode;
    // As the gateway runs a query: compiled once by graphql-jit (gateway/executor.ts).
    const run = createExecutor(schema);
    const once = async () => {
      const result = await run({
        document, source: PAGE_QUERY, operation, operationName: undefined, variables: { id: orderId },
        contextValue: { prisma, viewer: BENCH_ADMIN, orders: { reads, events, loaders: createLoaders(reads, events) } },
      });
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      return result;
    };
    for (let i = 0; i < 100; i += 1) await once();
    const times = histogram();
    for (let i = 0; i < PAGE_RUNS; i += 1) {
      const started = micros();
      await once();
      times.recordValue(micros() - started);
    }
    const { p50, p99 } = percentiles(times);
    return { events: 50, p50Ms: p50, p99Ms: p99 };
  } finally {
    await prisma.$disconnect();
    await dropDatabase(url.toString()).catch(() => {});
  }
}

/**
 * `orders` orders placed and settled while nobody watched (five events each), then resumed from their creation:
 * ms from the first subscribe to the last of the 4 × `orders` missed states, and whether each came once, in order.
 */
export async function resumeAfterMissed(system: BenchSystem, orders: number) {
  const product = `BENCH-RESUME-${randomUUID().slice(0, 6)}`;
  await graphql(system.url, `mutation($p: String!) { addInventory(product: $p, quantity: 1000000) { stock } }`, { p: product });
  const ids = Array.from({ length: orders }, () => `bench-resume-${randomUUID()}`);
  let next = 0;
  await load(8, async () => {
    if (next >= ids.length) return;
    const id = ids[next++];
    await graphql(system.url, `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`, { input: { id, customerId: 'bench', product, quantity: 1, price: 1 } });
    await graphql(system.url, `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 30000) { state } }`, { id });
  }, { perClient: Math.ceil(orders / 8) });
  // Where each client last stood: its order's creation.
  const cursors = new Map<string, string>();
  for (const id of ids) {
    const data = await graphql(system.url, `query($id: ID!) { order(id: $id) { history(first: 1) { edges { cursor } } } }`, { id });
    cursors.set(id, data.order.history.edges[0].cursor);
  }
  // As many sockets as the gateway's per-connection limit asks for (100 subscriptions each), open before the clock starts.
  const clients = Array.from({ length: Math.ceil(orders / PER_SOCKET) }, () => createClient({ url: system.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams, lazy: false }));
  await Promise.all(clients.map((client) => new Promise<void>((opened) => client.on('connected', () => opened()))));
  const missed = 4 * orders;
  const received = new Map<string, string[]>();
  let count = 0;
  const started = performance.now();
  let finished = 0;
  await new Promise<void>((done, fail) => {
    for (const [i, id] of ids.entries()) {
      clients[Math.floor(i / PER_SOCKET)].subscribe<{ orderUpdated: { state: string; validations: unknown[] } }>(
        { query: 'subscription($id: ID!, $after: String) { orderUpdated(id: $id, after: $after) { state validations { checkType } } }', variables: { id, after: cursors.get(id) } },
        {
          next: ({ data }) => {
            received.set(id, [...(received.get(id) ?? []), `${data!.orderUpdated.state}/${data!.orderUpdated.validations.length}`]);
            if (++count === missed) {
              finished = performance.now();
              done();
            }
          },
          error: fail,
          complete: () => {},
        },
      );
    }
    setTimeout(() => fail(new Error(`resumed ${count} of ${missed} missed states within 60 s`)), 60_000).unref();
  });
  await Promise.all(clients.map((client) => client.dispose()));
  const whole = [...received.values()].every((states) => states.join() === 'CREATED/1,CREATED/2,CREATED/3,VALIDATED/3');
  return { orders, missedEvents: missed, ms: finished - started, eachOnceInOrder: whole };
}
