/** Stock of one product: what arrived, what open orders hold, and the verdict given to each order. */
import { has } from '../../shared/records.ts';
import type { EventEnvelope } from '../contract.ts';

export interface ProductStock {
  /** False until stock has ever been added: orders for an unknown product fail. */
  known: boolean;
  stock: number;
  reserved: number;
  /** Open reservations by order id. */
  reservations: Record<string, number>;
  /** Orders refused, with the reason, so a redelivered order gets the same verdict. */
  rejections: Record<string, string>;
  /** Orders whose reservation was released (they failed). */
  released: Record<string, true>;
}

export const initialProductStock = (): ProductStock => ({
  known: false, stock: 0, reserved: 0, reservations: {}, rejections: {}, released: {},
});

export const available = (s: ProductStock): number => s.stock - s.reserved;

export function evolve(state: ProductStock, event: EventEnvelope): ProductStock {
  switch (event.type) {
    case 'StockAdded':
      return { ...state, known: true, stock: state.stock + event.data.quantity };
    case 'StockReserved': {
      const { orderId, quantity } = event.data;
      // Once per order, even if a retried publish wrote the reservation twice.
      if (has(state.reservations, orderId) || has(state.released, orderId)) return state;
      return { ...state, reserved: state.reserved + quantity, reservations: { ...state.reservations, [orderId]: quantity } };
    }
    case 'StockReservationRejected':
      return { ...state, rejections: { ...state.rejections, [event.data.orderId]: event.data.reason } };
    case 'StockReleased': {
      const { orderId, quantity } = event.data;
      if (!has(state.reservations, orderId)) return state;
      const { [orderId]: _, ...reservations } = state.reservations;
      return { ...state, reserved: state.reserved - quantity, reservations, released: { ...state.released, [orderId]: true } };
    }
    default:
      return state;
  }
}
