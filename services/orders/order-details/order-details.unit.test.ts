import { describe, it } from 'vitest';
import { specify } from '../../../test/support/decider.ts';
import { event } from '../testing.ts';
import { checkCompleted, type EventOfType } from '../contract.ts';
import { orderDetailsService } from './handler.ts';

const order = (data: Partial<{ customerId: string; product: string; quantity: number; price: number }>) =>
  event({ type: 'OrderCreated', data: { orderId: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 0, currency: 'EUR', ...data } }) as EventOfType<'OrderCreated'>;
const details = specify(orderDetailsService);

describe('order-details: decide', () => {
  it('passes a complete order (a price of 0 is allowed)', () => {
    const o = order({});
    details.given([]).when(o).then([checkCompleted(o, 'ORDER_DETAILS_CHECK', 'PASS')]);
  });

  it.each([
    [{ quantity: 0 }, 'quantity must be at least 1 (got 0)'],
    [{ quantity: -1 }, 'quantity must be at least 1 (got -1)'],
    [{ price: -0.01 }, 'price must not be negative (got -0.01)'],
    [{ customerId: ' ' }, 'customer is missing'],
    [{ product: '' }, 'product is missing'],
  ])('fails %o', (change, reason) => {
    const o = order(change);
    details.given([]).when(o).then([checkCompleted(o, 'ORDER_DETAILS_CHECK', 'FAIL', reason)]);
  });

  it('gives every reason at once', () => {
    const o = order({ quantity: 0, price: -1 });
    details.given([]).when(o).then([
      checkCompleted(o, 'ORDER_DETAILS_CHECK', 'FAIL', 'quantity must be at least 1 (got 0); price must not be negative (got -1)'),
    ]);
  });
});
