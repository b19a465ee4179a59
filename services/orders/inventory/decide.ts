/**
 * Inventory decisions. The runtime decides messages one after another, each against the state the previous
 * one left, so reservations of one product are serialized and concurrent orders can never oversell.
 */
import { SystemError } from '../../shared/errors.ts';
import { get } from '../../shared/persistent-map.ts';
import { checkCompleted, type DomainEvent, type Envelope } from '../contract.ts';
import { available, type ProductStock } from './evolve.ts';

/** The read model stores stock as a 32-bit integer. */
export const MAX_STOCK = 2_147_483_647;

export function decide(input: Envelope, state: ProductStock, _now: Date): DomainEvent[] {
  switch (input.type) {
    case 'AddInventory': {
      const { product, quantity } = input.data;
      if (quantity < 1) throw new SystemError('INVALID_QUANTITY', `quantity must be at least 1 (got ${quantity})`);
      if (state.stock + quantity > MAX_STOCK) {
        throw new SystemError('INVALID_QUANTITY', `stock of ${product} would exceed ${MAX_STOCK} (it is ${state.stock})`);
      }
      return [{ type: 'StockAdded', data: { product, quantity } }];
    }
    case 'OrderCreated': {
      const { orderId, product, quantity } = input.data;
      // Seen before (a redelivery): repeat the verdict, change nothing.
      if (get(state.reservations, orderId) !== undefined || get(state.released, orderId)) return [checkCompleted(input, 'INVENTORY_CHECK', 'PASS')];
      const rejection = get(state.rejections, orderId);
      if (rejection !== undefined) return [checkCompleted(input, 'INVENTORY_CHECK', 'FAIL', rejection)];
      if (!product) return [checkCompleted(input, 'INVENTORY_CHECK', 'FAIL', 'no product given')];
      const reason = !state.known
        ? `unknown product ${product}`
        : quantity < 1
          ? `cannot reserve a quantity of ${quantity}`
          : available(state) < quantity
            ? `insufficient stock of ${product}: ${available(state)} available, ${quantity} requested`
            : undefined;
      if (reason) {
        return [
          { type: 'StockReservationFailed', data: { product, orderId, quantity, reason } },
          checkCompleted(input, 'INVENTORY_CHECK', 'FAIL', reason),
        ];
      }
      return [
        { type: 'StockReserved', data: { product, orderId, quantity } },
        checkCompleted(input, 'INVENTORY_CHECK', 'PASS'),
      ];
    }
    case 'OrderFailed': {
      const quantity = get(state.reservations, input.data.orderId);
      if (quantity === undefined) return [];
      return [{ type: 'StockReleased', data: { product: input.data.product, orderId: input.data.orderId, quantity } }];
    }
    default:
      return [];
  }
}
