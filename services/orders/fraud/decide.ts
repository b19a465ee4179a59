/**
 * The fraud check: a customer's running order value within a session (orders separated by less than
 * an hour) must stay below the limit.
 */
import { own } from '../../shared/records.ts';
import { checkCompleted, type DomainEvent, type Envelope } from '../contract.ts';
import type { CustomerOrders } from './evolve.ts';

export const FRAUD_LIMIT = 2000;
export const SESSION_GAP_MS = 60 * 60 * 1000;

/** The value of the session the order at `at` closes: itself plus every earlier order chained by gaps under an hour. */
function sessionTotal(state: CustomerOrders, at: Date, total: number): number {
  const earlier = Object.values(state.orders)
    .map((o) => ({ at: Date.parse(o.orderedAt), total: o.total }))
    .filter((o) => o.at <= at.getTime())
    .sort((a, b) => b.at - a.at);
  let sum = total;
  let boundary = at.getTime();
  for (const order of earlier) {
    if (boundary - order.at >= SESSION_GAP_MS) break;
    sum += order.total;
    boundary = order.at;
  }
  return sum;
}

export function decide(input: Envelope, state: CustomerOrders, _now: Date): DomainEvent[] {
  if (input.type !== 'OrderCreated') return [];
  const previous = own(state.orders, input.data.orderId);
  if (previous) return [checkCompleted(input, 'FRAUD_CHECK', previous.result, previous.reason)];
  const { customerId, quantity, price } = input.data;
  const total = sessionTotal(state, new Date(input.occurredAt), quantity * price);
  return total >= FRAUD_LIMIT
    ? [checkCompleted(input, 'FRAUD_CHECK', 'FAIL', `customer ${customerId} ordered ${total} within one session; the limit is below ${FRAUD_LIMIT}`)]
    : [checkCompleted(input, 'FRAUD_CHECK', 'PASS')];
}
