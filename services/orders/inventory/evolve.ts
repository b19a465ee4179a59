/**
 * Stock of one product: what arrived, what open orders hold, and the verdict given to each order. The per-order
 * entries grow with every order of the product, so they are persistent maps: a new state shares all but the entry
 * it changes. Copying plain records, folding 10,000 reservations of one product took 14 s and one more cost 2.8 ms.
 */
import { emptyMap, get, remove, set, type PersistentMap } from '../../shared/persistent-map.ts';
import type { EventEnvelope } from '../contract.ts';

export interface ProductStock {
  /** False until stock has ever been added: orders for an unknown product fail. */
  known: boolean;
  stock: number;
  reserved: number;
  /** Open reservations: quantity by order id. */
  reservations: PersistentMap<number>;
  /** Orders refused, with the reason, so a redelivered order gets the same verdict. */
  rejections: PersistentMap<string>;
  /** Orders whose reservation was released (they failed). */
  released: PersistentMap<true>;
}

export const initialProductStock = (): ProductStock => ({
  known: false, stock: 0, reserved: 0, reservations: emptyMap(), rejections: emptyMap(), released: emptyMap(),
});

export const available = (s: ProductStock): number => s.stock - s.reserved;

export function evolve(state: ProductStock, event: EventEnvelope): ProductStock {
  switch (event.type) {
    case 'StockAdded':
      return { ...state, known: true, stock: state.stock + event.data.quantity };
    case 'StockReserved': {
      const { orderId, quantity } = event.data;
      // Once per order, even if a retried publish wrote the reservation twice.
      if (get(state.reservations, orderId) !== undefined || get(state.released, orderId)) return state;
      return { ...state, reserved: state.reserved + quantity, reservations: set(state.reservations, orderId, quantity) };
    }
    case 'StockReservationFailed':
      return { ...state, rejections: set(state.rejections, event.data.orderId, event.data.reason) };
    case 'StockReleased': {
      const { orderId, quantity } = event.data;
      if (get(state.reservations, orderId) === undefined) return state;
      return { ...state, reserved: state.reserved - quantity, reservations: remove(state.reservations, orderId), released: set(state.released, orderId, true) };
    }
    default:
      return state;
  }
}
