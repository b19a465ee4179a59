/**
 * Who may do what in the orders slice: the one place its resolvers ask (README, Authentication). Customers place
 * and read their own orders and read the inventory; admins do everything, restocking included. Another
 * customer's order reads as not found, so order ids do not leak.
 */
import { forbidden, isAdmin, notFound, requireRole, type Viewer } from '../../shared/graphql/index.ts';

const CUSTOMERS = ['customer'] as const;

/** Whose orders a viewer sees: every customer's (admin), or only its own. */
const mayRead = (viewer: Viewer, order: { customerId: string }) => isAdmin(viewer) || order.customerId === viewer.sub;

export const ordersPolicy = {
  /** `placeOrder`: customers for themselves only. */
  placeOrder(viewer: Viewer | undefined, customerId: string): Viewer {
    const user = requireRole(viewer, CUSTOMERS, 'placeOrder');
    if (!isAdmin(user) && customerId !== user.sub) {
      throw forbidden(`placeOrder: a customer places orders for itself only: set input.customerId to "${user.sub}"`);
    }
    return user;
  },

  /** `addInventory`: admins only. */
  addInventory: (viewer: Viewer | undefined): Viewer => requireRole(viewer, [], 'addInventory'),

  /** `inventory`, `inventoryItem`: customers read the stock. */
  readInventory: (viewer: Viewer | undefined, what: string): Viewer => requireRole(viewer, CUSTOMERS, what),

  /** `order`, `orders`, `awaitOrder`, `orderUpdated`: a customer (its own orders only) or an admin. */
  readOrders: (viewer: Viewer | undefined, what: string): Viewer => requireRole(viewer, CUSTOMERS, what),

  /** The order if the viewer may see it, else null: the same answer as for an id that does not exist. */
  visible<T extends { customerId: string }>(viewer: Viewer, order: T | null | undefined): T | null {
    return order && mayRead(viewer, order) ? order : null;
  },

  /**
   * The customer filter of `orders`: an admin's as asked (undefined: every customer); a customer's own id, and
   * null for another customer's id: their orders read as none.
   */
  customerFilter(viewer: Viewer, customerId: string | null | undefined): string | undefined | null {
    if (isAdmin(viewer)) return customerId ?? undefined;
    return customerId == null || customerId === viewer.sub ? viewer.sub : null;
  },

  /**
   * `orderUpdated` for a non-admin: the order must exist and be its own when it subscribes, since the events that
   * follow go to every subscriber of the order alike. Anything else is NOT_FOUND, whether missing or another's.
   */
  async subscribe(viewer: Viewer, orderId: string, load: (id: string) => Promise<{ customerId: string } | null>): Promise<void> {
    if (isAdmin(viewer)) return; // an admin may watch an order before it is placed
    const order = await load(orderId);
    if (!order || !mayRead(viewer, order)) throw notFound(`no order with id "${orderId}" of yours: place it before subscribing`);
  },
};
