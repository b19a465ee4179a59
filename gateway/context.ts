/** What every resolver receives: the read side (Prisma + DataLoaders, fresh per operation) and the write side. */
import DataLoader from 'dataloader';
import type { PrismaClient } from '../services/shared/db.ts';
import type { InventoryItem, Order, OrderValidation } from '../generated/prisma/client.ts';
import type { CommandGateway } from './commands.ts';
import type { OrderFeed } from './feed.ts';

/** An order row; `validations` is present when the order was loaded together with them (subscriptions). */
export type OrderModel = Order & { validations?: OrderValidation[] };
export type OrderModelWithValidations = Order & { validations: OrderValidation[] };

export interface GatewayServices {
  prisma: PrismaClient;
  commands: CommandGateway;
  feed: OrderFeed;
  /** How long mutations wait for their outcome, in ms. */
  commandTimeoutMs: number;
}

export interface GatewayContext extends GatewayServices {
  loaders: ReturnType<typeof createLoaders>;
}

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

export function createContext(services: GatewayServices): GatewayContext {
  return { ...services, loaders: createLoaders(services.prisma) };
}
