/** The orders slice's per-operation context: DataLoaders over the orders projections, and the live order feed. */
import DataLoader from 'dataloader';
import type { GatewayServices, ViewerContext } from '../../shared/graphql/index.ts';
import type { EventIndexReader, IndexedEvent } from '../../shared/event-index.ts';
import { ORDER_STREAM_TOPICS, type OrderFeed } from './feed.ts';
import type { InventoryRow, OrderRow, OrdersReadModel, ValidationRow } from './read-model.ts';

/**
 * An order row; `validations` is present when the order was loaded together with them (subscriptions), `cursor`
 * when it is the state as of a known event (subscriptions, `asOf`).
 */
export type OrderModel = OrderRow & { validations?: ValidationRow[]; cursor?: string };
export type OrderModelWithValidations = OrderRow & { validations: ValidationRow[]; cursor?: string };
/** An edge of a page of orders: its cursor is encoded from the node only when selected. */
export interface OrderEdgeModel {
  node: OrderModel;
}

export interface OrdersContext {
  reads: OrdersReadModel;
  /** The orders' histories in the runtime's event index. */
  events: EventIndexReader;
  loaders: ReturnType<typeof createLoaders>;
  feed: OrderFeed;
}

/** What the orders resolvers receive (the type codegen uses for them). */
export type Context = GatewayServices & ViewerContext & { orders: OrdersContext };

/** Batches the lookups of one operation into one query per kind, whatever the page size (no N+1). */
export function createLoaders(reads: OrdersReadModel, events: EventIndexReader) {
  return {
    latestEventByOrderId: new DataLoader<string, IndexedEvent | null>(async (ids) => {
      const latest = await events.latest(ids, ORDER_STREAM_TOPICS);
      return ids.map((id) => latest.get(id) ?? null);
    }),
    orderById: new DataLoader<string, OrderRow | null>(async (ids) => {
      const byId = new Map((await reads.ordersByIds(ids)).map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    validationsByOrderId: new DataLoader<string, ValidationRow[]>(async (ids) => {
      const byOrder = new Map<string, ValidationRow[]>();
      for (const row of await reads.validationsByOrderIds(ids)) {
        const verdicts = byOrder.get(row.orderId);
        if (verdicts) verdicts.push(row);
        else byOrder.set(row.orderId, [row]);
      }
      return ids.map((id) => byOrder.get(id) ?? []);
    }),
    inventoryByProduct: new DataLoader<string, InventoryRow | null>(async (products) => {
      const byProduct = new Map((await reads.inventoryByProducts(products)).map((row) => [row.product, row]));
      return products.map((product) => byProduct.get(product) ?? null);
    }),
  };
}
