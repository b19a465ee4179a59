/** A customer's orders as the fraud check judged them, folded from its own FRAUD_CHECK verdicts. */
import type { EventEnvelope, ValidationResult } from '../contract.ts';

export interface JudgedOrder {
  total: number;
  orderedAt: string;
  result: ValidationResult;
  reason: string | null;
}

export interface CustomerOrders {
  orders: Record<string, JudgedOrder>;
}

export const initialCustomerOrders = (): CustomerOrders => ({ orders: {} });

export function evolve(state: CustomerOrders, event: EventEnvelope): CustomerOrders {
  if (event.type !== 'OrderCheckCompleted' || event.data.checkType !== 'FRAUD_CHECK') return state;
  const { orderId, orderTotal, orderedAt, result, reason } = event.data;
  return { orders: { ...state.orders, [orderId]: { total: orderTotal, orderedAt, result, reason } } };
}
