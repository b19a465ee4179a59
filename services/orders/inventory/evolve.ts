/**
 * Stock of one product: what arrived, what open orders hold, and the verdict given to each order. The per-order
 * entries grow with every order of the product, so they are persistent maps: a new state shares all but the entry
 * it changes. Copying plain records, folding 10,000 reservations of one product took 14 s and one more cost 2.8 ms.
 */
import { Map as PersistentMap, Set as PersistentSet } from 'immutable';
import type { EventEnvelope } from '../contract.ts';

export interface ProductStock {
  /** False until stock has ever been added: orders for an unknown product fail. */
  known: boolean;
  stock: number;
  reserved: number;
  /** Open reservations: quantity by order id. */
  reservations: PersistentMap<string, number>;
  /** Orders refused, with the reason, so a redelivered order gets the same verdict. */
  rejections: PersistentMap<string, string>;
  /** Orders whose reservation was released (they failed). */
  released: PersistentSet<string>;
}

export const initialProductStock = (): ProductStock => ({
  known: false, stock: 0, reserved: 0, reservations: PersistentMap(), rejections: PersistentMap(), released: PersistentSet(),
});

export const available = (s: ProductStock): number => s.stock - s.reserved;

export function evolve(state: ProductStock, event: EventEnvelope): ProductStock {
  switch (event.type) {
    case 'StockAdded':
      return { ...state, known: true, stock: state.stock + event.data.quantity };
    case 'StockReserved': {
      const { orderId, quantity } = event.data;
      // Once per order, even if a retried publish wrote the reservation twice.
      if (state.reservations.has(orderId) || state.released.has(orderId)) return state;
      return { ...state, reserved: state.reserved + quantity, reservations: state.reservations.set(orderId, quantity) };
    }
    case 'StockReservationRejected':
      return { ...state, rejections: state.rejections.set(event.data.orderId, event.data.reason) };
    case 'StockReleased': {
      const { orderId, quantity } = event.data;
      if (!state.reservations.has(orderId)) return state;
      return { ...state, reserved: state.reserved - quantity, reservations: state.reservations.delete(orderId), released: state.released.add(orderId) };
    }
    default:
      return state;
  }
}
