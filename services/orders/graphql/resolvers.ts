/**
 * The orders resolvers, typed from schema.graphql by codegen. Mutations only send commands; queries only read
 * projections; subscriptions follow the feed.
 */
import { randomUUID } from 'node:crypto';
import { actorOf } from '../../shared/graphql/index.ts';
import { SystemError } from '../../shared/errors.ts';
import { historyPage, positionOf } from '../../shared/event-index.ts';
import { ordersContract } from '../contract.ts';
import { orderStream, statesOf } from './feed.ts';
import type { Resolvers } from './generated.ts';
import { ordersPolicy as policy } from './policy.ts';
import type { OrderCursor } from './read-model.ts';

const PAGE_DEFAULT = 20;
const AWAIT_DEFAULT_MS = 10_000;

const badInput = (message: string) => new SystemError('BAD_USER_INPUT', message);

// Cursors are opaque to clients: base64url of the sort key (createdAt, id).
const encodeCursor = (order: { createdAt: Date; id: string }) =>
  Buffer.from(JSON.stringify([order.createdAt.toISOString(), order.id])).toString('base64url');

function decodeCursor(cursor: string): OrderCursor {
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
    async order(_, { id, asOf }, { viewer, orders: { loaders, events } }) {
      const user = policy.readOrders(viewer, 'order');
      if (!asOf) return policy.visible(user, await loaders.orderById.load(id));
      // As it was then: the last of the states its history went through by that moment.
      return policy.visible(user, statesOf(await events.asOf(orderStream(id), asOf)).at(-1) ?? null);
    },

    async orders(_, { customerId, state, first, after }, { viewer, orders: { reads } }) {
      const customer = policy.customerFilter(policy.readOrders(viewer, 'orders'), customerId);
      if (customer === null) return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
      const take = first ?? PAGE_DEFAULT; // bounded by @limit in schema.graphql
      const rows = await reads.page({
        customerId: customer,
        state: state ?? undefined,
        after: after != null ? decodeCursor(after) : undefined,
        limit: take + 1,
      });
      const page = rows.slice(0, take);
      const last = page.at(-1);
      return {
        edges: page.map((node) => ({ node })),
        pageInfo: { hasNextPage: rows.length > take, endCursor: last ? encodeCursor(last) : null },
      };
    },

    async awaitOrder(_, { id, timeoutMs }, { viewer, orders: { feed, reads } }) {
      const user = policy.readOrders(viewer, 'awaitOrder');
      const waitMs = timeoutMs ?? AWAIT_DEFAULT_MS; // bounded by @limit in schema.graphql
      const deadline = Date.now() + waitMs;
      const missing = () => new SystemError('NOT_FOUND', `no order with id "${id}" appeared within ${waitMs} ms`);
      // Another customer's order is answered as a missing one is, after the whole wait: neither its existence
      // nor its progress shows, not even in the timing.
      const hidden = async () => {
        await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
        return missing();
      };
      const settled = await feed.first(id, (order) => order.state !== 'CREATED' || !policy.visible(user, order), waitMs);
      if (settled) {
        if (!policy.visible(user, settled)) throw await hidden();
        return settled;
      }
      const order = policy.visible(user, await reads.orderWithValidations(id));
      if (!order) throw missing();
      if (order.state !== 'CREATED') return order;
      throw new SystemError('TIMEOUT', `order "${id}" is still ${order.state} after ${waitMs} ms: call awaitOrder again`, true);
    },

    inventory(_, __, { viewer, orders: { reads } }) {
      policy.readInventory(viewer, 'inventory');
      return reads.inventory();
    },

    inventoryItem(_, { product }, { viewer, orders: { loaders } }) {
      policy.readInventory(viewer, 'inventoryItem');
      return loaders.inventoryByProduct.load(product);
    },
  },

  Mutation: {
    async placeOrder(_, { input }, { viewer, commands, orders: { feed, loaders }, commandTimeoutMs }) {
      const user = policy.placeOrder(viewer, input.customerId);
      const orderId = input.id ?? randomUUID();
      if (!orderId.trim()) throw badInput('input.id must not be empty: omit it to have one generated');
      const currency = input.currency ?? 'EUR';
      if (!/^[A-Z]{3}$/.test(currency)) throw badInput(`input.currency must be a three-letter ISO 4217 code such as USD, not "${currency}"`);
      const deadline = Date.now() + commandTimeoutMs;
      const reply = await commands.execute(
        ordersContract.outgoing(ordersContract.command({
          type: 'PlaceOrder',
          data: { orderId, customerId: input.customerId, product: input.product, quantity: input.quantity, price: input.price, currency },
        }, { actor: actorOf(user) })),
        commandTimeoutMs,
      );
      // Its events are projected (execute waits for that), so the order reads as created, or later. Not through
      // the feed, which would also wait for verdicts that arrived meanwhile. Only a repeated id whose first
      // placement is not projected yet is not there: it appears soon.
      const order = (await loaders.orderById.load(orderId)) ?? (await feed.first(orderId, () => true, Math.max(0, deadline - Date.now())));
      if (order) return order;
      throw new SystemError('TIMEOUT', `order ${orderId} was accepted but is not visible yet: query it later`, true, { commandId: reply.commandId });
    },

    async addInventory(_, { product, quantity }, { viewer, commands, orders: { loaders }, commandTimeoutMs }) {
      const user = policy.addInventory(viewer);
      if (!product.trim()) throw badInput('product must not be empty');
      const command = ordersContract.command({ type: 'AddInventory', data: { product, quantity } }, { actor: actorOf(user) });
      await commands.execute(ordersContract.outgoing(command), commandTimeoutMs);
      const item = await loaders.inventoryByProduct.load(product);
      if (!item) throw new SystemError('TIMEOUT', `stock of ${product} was added but is not visible yet`, true);
      return item;
    },
  },

  Subscription: {
    orderUpdated: {
      // Authorized once, here: the events that follow are the order's, the same for every subscriber allowed.
      async subscribe(_, { id, after }, { viewer, orders: { feed, loaders } }) {
        // A bad cursor is refused before anything else happens.
        const position = after == null ? undefined : positionOf(after, id);
        await policy.subscribe(policy.readOrders(viewer, 'orderUpdated'), id, (orderId) => loaders.orderById.load(orderId));
        return feed.updates(id, position);
      },
      resolve: (order: unknown) => order as never,
    },
  },

  Order: {
    validations: (order, _, { orders: { loaders } }) => order.validations ?? loaders.validationsByOrderId.load(order.id),
    // An order is never without events: one not in the index yet is as of its creation, still being indexed.
    cursor: async (order, _, { orders: { loaders } }) => {
      if (order.cursor) return order.cursor;
      const latest = await loaders.latestEventByOrderId.load(order.id);
      if (!latest) throw new SystemError('UNAVAILABLE', `order ${order.id}'s history is still being indexed: ask again in a moment`, true);
      return latest.position;
    },
    // Authorized with the order it hangs from: whoever may see the order may see how it came to be.
    history: (order, { first, after }, { orders: { events } }) => historyPage(events, orderStream(order.id), first ?? PAGE_DEFAULT, after),
  },

  OrderEdge: {
    cursor: (edge) => encodeCursor(edge.node),
  },

  InventoryItem: {
    available: (item) => item.stock - item.reserved,
  },
};
