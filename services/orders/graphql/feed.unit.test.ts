import { describe, expect, it } from 'vitest';
import { event } from '../testing.ts';
import { checkCompleted, type EventOfType } from '../contract.ts';
import type { OrderModelWithValidations } from './context.ts';
import { createdOrder, foldOrder } from './feed.ts';

const t0 = new Date('2026-11-25T10:00:00Z');
const order: OrderModelWithValidations = {
  id: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 5, currency: 'EUR', state: 'CREATED', createdAt: t0, updatedAt: t0, validations: [],
};
const created = event({ type: 'OrderCreated', data: { orderId: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 5, currency: 'EUR' } }, t0) as EventOfType<'OrderCreated'>;
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
const verdict = (type: 'INVENTORY_CHECK' | 'FRAUD_CHECK' | 'ORDER_DETAILS_CHECK', minutes: number) =>
  event(checkCompleted(created, type, 'PASS'), at(minutes));

describe('foldOrder: one update per event', () => {
  it('adds each verdict as it comes, in check order, and moves updatedAt', () => {
    const one = foldOrder(order, verdict('FRAUD_CHECK', 1));
    expect(one.validations.map((v) => v.checkType)).toEqual(['FRAUD_CHECK']);
    expect(one.updatedAt).toEqual(at(1));
    const two = foldOrder(one, verdict('INVENTORY_CHECK', 2));
    expect(two.validations.map((v) => v.checkType)).toEqual(['INVENTORY_CHECK', 'FRAUD_CHECK']);
    expect(two.state).toBe('CREATED');
  });

  it('ignores a repeated verdict and never moves time back', () => {
    const one = foldOrder(order, verdict('FRAUD_CHECK', 5));
    expect(foldOrder(one, verdict('FRAUD_CHECK', 6))).toBe(one);
    const late = foldOrder(one, verdict('INVENTORY_CHECK', 1));
    expect(late.updatedAt).toEqual(at(5));
  });

  it('ends the order once, with every verdict the terminal event carries', () => {
    const checks = [
      { checkType: 'INVENTORY_CHECK' as const, result: 'PASS' as const, reason: null },
      { checkType: 'FRAUD_CHECK' as const, result: 'FAIL' as const, reason: 'too much' },
      { checkType: 'ORDER_DETAILS_CHECK' as const, result: 'PASS' as const, reason: null },
    ];
    const failed = foldOrder(order, event({ type: 'OrderFailed', data: { orderId: 'o1', product: 'P', checks } }, at(3)));
    expect(failed.state).toBe('FAILED');
    expect(failed.validations.map((v) => [v.checkType, v.result, v.reason])).toEqual(checks.map((c) => [c.checkType, c.result, c.reason]));
    expect(foldOrder(failed, event({ type: 'OrderValidated', data: { orderId: 'o1', checks } }, at(4)))).toBe(failed);
  });

  it('dates an ended order by its terminal event, as the projection does, even after a later-stamped verdict', () => {
    const checks = [{ checkType: 'FRAUD_CHECK' as const, result: 'PASS' as const, reason: null }];
    const checked = foldOrder(order, verdict('FRAUD_CHECK', 5));
    expect(foldOrder(checked, event({ type: 'OrderValidated', data: { orderId: 'o1', checks } }, at(4))).updatedAt).toEqual(at(4));
  });
});

describe('createdOrder', () => {
  it('is the order as the projection shows it right after its OrderCreated', () => {
    expect(createdOrder(created)).toEqual(order);
  });
});
