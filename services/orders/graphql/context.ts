/** The orders slice's per-operation context: DataLoaders over the orders projections, and the live order feed. */
import DataLoader from 'dataloader';
import type { GatewayServices, ViewerContext } from '../../../gateway/context.ts';
import type { PrismaClient } from '../../shared/db.ts';
import type { InventoryItem, Order, OrderValidation } from '../../../generated/prisma/client.ts';
import type { OrderFeed } from './feed.ts';

/** An order row; `validations` is present when the order was loaded together with them (subscriptions). */
export type OrderModel = Order & { validations?: OrderValidation[] };
export type OrderModelWithValidations = Order & { validations: OrderValidation[] };

export interface OrdersContext {
  loaders: ReturnType<typeof createLoaders>;
  feed: OrderFeed;
}

/** What the orders resolvers receive (the type codegen uses for them). */
export type Context = GatewayServices & ViewerContext & { orders: OrdersContext };

/** Batches the lookups of one operation into one query per kind, whatever the page size (no N+1). */
export function createLoaders(prisma: PrismaClient) {
  return {
    orderById: new DataLoader<string, Order | null>(async (ids) => {
      const rows = await prisma.order.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    validationsByOrderId: new DataLoader<string, OrderValidation[]>(async (ids) => {
      const rows = await prisma.orderValidation.findMany({
        where: { orderId: { in: [...ids] } },
        orderBy: { checkType: 'asc' },
      });
      const byOrder = new Map<string, OrderValidation[]>();
      for (const row of rows) byOrder.set(row.orderId, [...(byOrder.get(row.orderId) ?? []), row]);
      return ids.map((id) => byOrder.get(id) ?? []);
    }),
    inventoryByProduct: new DataLoader<string, InventoryItem | null>(async (products) => {
      const rows = await prisma.inventoryItem.findMany({ where: { product: { in: [...products] } } });
      const byProduct = new Map(rows.map((row) => [row.product, row]));
      return products.map((product) => byProduct.get(product) ?? null);
    }),
  };
}
