/** The order-details check: the business rules an order's fields must meet. Stateless. */
import { checkCompleted, type DomainEvent, type Envelope } from '../contract.ts';

function detailProblems(order: { customerId: string; product: string; quantity: number; price: number }): string[] {
  const problems: string[] = [];
  if (order.quantity < 1) problems.push(`quantity must be at least 1 (got ${order.quantity})`);
  if (order.price < 0) problems.push(`price must not be negative (got ${order.price})`);
  if (!order.customerId.trim()) problems.push('customer is missing');
  if (!order.product.trim()) problems.push('product is missing');
  return problems;
}

export function decide(input: Envelope, _state: null, _now: Date): DomainEvent[] {
  if (input.type !== 'OrderCreated') return [];
  const problems = detailProblems(input.data);
  return problems.length
    ? [checkCompleted(input, 'ORDER_DETAILS_CHECK', 'FAIL', problems.join('; '))]
    : [checkCompleted(input, 'ORDER_DETAILS_CHECK', 'PASS')];
}
