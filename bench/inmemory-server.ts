/**
 * The GraphQL layer alone: the gateway's own schema and resolvers, over Apollo Server on node:http, with
 * the database replaced by an in-memory page of 50 orders. Beside it, the same page as bare JSON over
 * node:http, both as bytes made once and as JSON built from the rows per request. Run as its own process by
 * bench/run.ts; prints its port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GatewayContext } from '../services/shared/graphql/index.ts';
import { compiledExecution, withoutFieldHooks } from '../gateway/executor.ts';
import { DateTime } from '../gateway/scalars.ts';
import { readSchema } from '../gateway/schema.ts';
import { createLoaders } from '../services/orders/graphql/context.ts';
import { resolvers } from '../services/orders/graphql/resolvers.ts';
import type { OrdersReadModel } from '../services/orders/graphql/read-model.ts';
import { BENCH_ADMIN } from './measure.ts';
import type { EventIndexReader } from '../services/shared/event-index.ts';

const at = new Date('2026-11-25T10:00:00Z');
const orders = Array.from({ length: 50 }, (_, i) => ({
  id: `order-${i}`, customerId: `customer-${i}`, product: 'UNDERPANTS', quantity: 1, price: 9.5,
  state: 'VALIDATED' as const, createdAt: at, updatedAt: at,
}));
const validations = orders.flatMap((o) =>
  (['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK'] as const).map((checkType) => ({
    orderId: o.id, checkType, result: 'PASS' as const, reason: null, recordedAt: at,
  })),
);
const validationsOf = new Map(orders.map((o) => [o.id, validations.filter((v) => v.orderId === o.id)]));
// Only what the `orders` query and the validations loader call; a lookup by id, as the database's index is.
const memory = {
  page: async () => orders,
  validationsByOrderIds: async (ids: readonly string[]) => ids.flatMap((id) => validationsOf.get(id) ?? []),
} as unknown as OrdersReadModel;

const schema = makeExecutableSchema<GatewayContext>({ typeDefs: readSchema(), resolvers: [{ DateTime }, resolvers] as never });
// `--graphql-js`: without the compiled executor, for a before/after.
const apollo = new ApolloServer<GatewayContext>({ ...compiledExecution(schema, { jit: !process.argv.includes('--graphql-js') }), plugins: withoutFieldHooks() });
await apollo.start();
/** The page's JSON built from the rows, as a hand-written endpoint would for each request. */
const pageJson = () => JSON.stringify({
  data: {
    orders: {
      edges: orders.map(({ id, customerId, product, quantity, price, state, createdAt }) => ({
        node: {
          id, customerId, product, quantity, price, state, createdAt: createdAt.toISOString(),
          validations: validationsOf.get(id)!.map(({ checkType, result, reason }) => ({ checkType, result, reason })),
        },
      })),
    },
  },
});
const json = pageJson();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    // `/json`: the page's bytes, made once; `/json-built`: made from the rows for each request.
    if (req.url === '/json' || req.url === '/json-built') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(req.url === '/json' ? json : pageJson());
    }
    const headers = new HeaderMap();
    headers.set('content-type', 'application/json');
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search: '', body: JSON.parse(Buffer.concat(chunks).toString()) },
      // The page is every customer's: an admin reads it (the gateway verifies the token before this layer).
      context: async () => ({ viewer: BENCH_ADMIN, orders: { reads: memory, loaders: createLoaders(memory, NO_EVENT_INDEX) } }) as never,
    });
    res.writeHead(response.status ?? 200, { 'content-type': 'application/json' });
    res.end(response.body.kind === 'complete' ? response.body.string : '');
  });
});
server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as AddressInfo).port}`));

/** The page this bench serves reads no history. */
const NO_EVENT_INDEX = new Proxy({} as EventIndexReader, { get: () => () => Promise.reject(new Error('this bench serves no event history')) });

