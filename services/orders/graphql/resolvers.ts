/**
 * The orders resolvers, typed from schema.graphql by codegen. Mutations only send commands; queries only read
 * projections; subscriptions follow the feed.
 */
import { randomUUID } from 'node:crypto';
import type { Prisma } from '../../../generated/prisma/client.ts';
import { SystemError } from '../../shared/errors.ts';
import { ordersContract } from '../contract.ts';
import { loadOrder } from './feed.ts';
import type { Resolvers } from './generated.ts';

const PAGE_DEFAULT = 20;
const AWAIT_DEFAULT_MS = 10_000;

const badInput = (message: string) => new SystemError('BAD_USER_INPUT', message);

// Cursors are opaque to clients: base64url of the sort key (createdAt, id).
const encodeCursor = (order: { createdAt: Date; id: string }) =>
  Buffer.from(JSON.stringify([order.createdAt.toISOString(), order.id])).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(createdAt);
    if (typeof id !== 'string' || Number.isNaN(date.getTime())) throw new Error();
    return { createdAt: date, id };
  } catch {
    throw badInput(`invalid cursor "${cursor}": pass an endCursor returned by a previous page`);
  }
}

export const resolvers: Resolvers = {
  Query: {
    order: (_, { id }, { orders: { loaders } }) => loaders.orderById.load(id),

    async orders(_, { customerId, state, first, after }, { prisma }) {
      const take = first ?? PAGE_DEFAULT; // bounded by @limit in schema.graphql
      const where: Prisma.OrderWhereInput = {};
      if (customerId != null) where.customerId = customerId;
      if (state != null) where.state = state;
      if (after != null) {
        const { createdAt, id } = decodeCursor(after);
        where.OR = [{ createdAt: { gt: createdAt } }, { createdAt, id: { gt: id } }];
      }
      const rows = await prisma.order.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: take + 1 });
      const page = rows.slice(0, take);
      const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
      return { edges, pageInfo: { hasNextPage: rows.length > take, endCursor: edges.at(-1)?.cursor ?? null } };
    },

    async awaitOrder(_, { id, timeoutMs }, { orders: { feed }, prisma }) {
      const waitMs = timeoutMs ?? AWAIT_DEFAULT_MS; // bounded by @limit in schema.graphql
      const settled = await feed.first(id, (order) => order.state !== 'CREATED', waitMs);
      if (settled) return settled;
      const order = await loadOrder(prisma, id);
      if (!order) throw new SystemError('NOT_FOUND', `no order with id "${id}" appeared within ${waitMs} ms`);
      if (order.state !== 'CREATED') return order;
      throw new SystemError('TIMEOUT', `order "${id}" is still ${order.state} after ${waitMs} ms: call awaitOrder again`, true);
    },

    inventory: (_, __, { prisma }) => prisma.inventoryItem.findMany({ orderBy: { product: 'asc' } }),

    inventoryItem: (_, { product }, { orders: { loaders } }) => loaders.inventoryByProduct.load(product),
  },

  Mutation: {
    async placeOrder(_, { input }, { commands, orders: { feed }, commandTimeoutMs }) {
      const orderId = input.id ?? randomUUID();
      if (!orderId.trim()) throw badInput('input.id must not be empty: omit it to have one generated');
      const deadline = Date.now() + commandTimeoutMs;
      const reply = await commands.execute(
        ordersContract.outgoing(ordersContract.command({
          type: 'PlaceOrder',
          data: { orderId, customerId: input.customerId, product: input.product, quantity: input.quantity, price: input.price },
        })),
        commandTimeoutMs,
      );
      // Visible now, except for a repeated id whose first placement is not projected yet: then it appears soon.
      const order = await feed.first(orderId, () => true, Math.max(0, deadline - Date.now()));
      if (order) return order;
      throw new SystemError('TIMEOUT', `order ${orderId} was accepted but is not visible yet: query it later`, true, { commandId: reply.commandId });
    },

    async addInventory(_, { product, quantity }, { commands, orders: { loaders }, commandTimeoutMs }) {
      if (!product.trim()) throw badInput('product must not be empty');
      await commands.execute(ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity } })), commandTimeoutMs);
      const item = await loaders.inventoryByProduct.load(product);
      if (!item) throw new SystemError('TIMEOUT', `stock of ${product} was added but is not visible yet`, true);
      return item;
    },
  },

  Subscription: {
    orderUpdated: {
      subscribe: (_, { id }, { orders: { feed } }) => feed.updates(id),
      resolve: (order: unknown) => order as never,
    },
  },

  Order: {
    // Stored as numeric(14,2), so cents stay exact; every value that passes @limit is a safe double.
    price: (order) => order.price.toNumber(),
    validations: (order, _, { orders: { loaders } }) => order.validations ?? loaders.validationsByOrderId.load(order.id),
  },

  InventoryItem: {
    available: (item) => item.stock - item.reserved,
  },
};
