import { describe, expect, it } from 'vitest';
import { specify } from '../../../test/support/decider.ts';
import { command, event } from '../testing.ts';
import { checkCompleted, ordersContract, type CheckType, type EventOfType, type ValidationResult } from '../contract.ts';
import { ordersService } from './handler.ts';
import { evolve, initialOrderState } from './evolve.ts';

const details = { orderId: 'o1', customerId: 'c1', product: 'JUMPERS', quantity: 2, price: 10, currency: 'EUR' };
const created = event({ type: 'OrderCreated', data: details }) as EventOfType<'OrderCreated'>;
const verdict = (checkType: CheckType, result: ValidationResult, reason: string | null = null) =>
  event(checkCompleted(created, checkType, result, reason));
const orders = specify(ordersService);

describe('orders: decide', () => {
  it('creates a new order', () => {
    orders.given([]).when(command({ type: 'PlaceOrder', data: details })).then([{ type: 'OrderCreated', data: details }]);
  });

  it('ignores placing the same order again (idempotent on the order id)', () => {
    orders.given([created]).when(command({ type: 'PlaceOrder', data: details })).then([]);
  });

  it('rejects reusing an order id for different details', () => {
    orders
      .given([created])
      .when(command({ type: 'PlaceOrder', data: { ...details, quantity: 3 } }))
      .thenRejects('ORDER_ID_CONFLICT', /already taken: omit id/);
  });

  it('refuses a customer placing an order for another customer (the actor in the envelope)', () => {
    const asBob = ordersContract.command({ type: 'PlaceOrder', data: details }, { actor: { sub: 'bob', roles: ['customer'] } });
    orders.given([]).when(asBob).thenRejects('FORBIDDEN', /bob may not place order o1 for customer c1/);
  });

  it('lets a customer place its own order, and an admin any; the events carry the actor', () => {
    for (const actor of [{ sub: 'c1', roles: ['customer'] }, { sub: 'root', roles: ['admin'] }]) {
      const placed = ordersContract.command({ type: 'PlaceOrder', data: details }, { actor });
      orders.given([]).when(placed).then([{ type: 'OrderCreated', data: details }]);
      expect(ordersContract.event({ type: 'OrderCreated', data: details }, placed, new Date()).actor).toEqual(actor);
    }
  });

  it('waits until all three checks have answered', () => {
    orders.given([created, verdict('FRAUD_CHECK', 'PASS')]).when(verdict('INVENTORY_CHECK', 'PASS')).then([]);
  });

  it('validates the order when all three checks pass', () => {
    orders
      .given([created, verdict('FRAUD_CHECK', 'PASS'), verdict('INVENTORY_CHECK', 'PASS')])
      .when(verdict('ORDER_DETAILS_CHECK', 'PASS'))
      .then([{
        type: 'OrderValidated',
        data: {
          orderId: 'o1',
          checks: [
            { checkType: 'INVENTORY_CHECK', result: 'PASS', reason: null },
            { checkType: 'FRAUD_CHECK', result: 'PASS', reason: null },
            { checkType: 'ORDER_DETAILS_CHECK', result: 'PASS', reason: null },
          ],
        },
      }]);
  });

  it('fails the order with every reason when any check fails', () => {
    orders
      .given([created, verdict('FRAUD_CHECK', 'FAIL', 'too much'), verdict('INVENTORY_CHECK', 'FAIL', 'no stock')])
      .when(verdict('ORDER_DETAILS_CHECK', 'PASS'))
      .then([{
        type: 'OrderFailed',
        data: {
          orderId: 'o1',
          product: 'JUMPERS',
          checks: [
            { checkType: 'INVENTORY_CHECK', result: 'FAIL', reason: 'no stock' },
            { checkType: 'FRAUD_CHECK', result: 'FAIL', reason: 'too much' },
            { checkType: 'ORDER_DETAILS_CHECK', result: 'PASS', reason: null },
          ],
        },
      }]);
  });

  it('reaches exactly one terminal state: a repeated verdict after the end changes nothing', () => {
    const checks = [verdict('FRAUD_CHECK', 'PASS'), verdict('INVENTORY_CHECK', 'PASS'), verdict('ORDER_DETAILS_CHECK', 'PASS')];
    const validated = event({ type: 'OrderValidated', data: { orderId: 'o1', checks: [] } });
    orders.given([created, ...checks, validated]).when(verdict('FRAUD_CHECK', 'PASS')).then([]);
  });
});

describe('orders: evolve', () => {
  it('follows the lifecycle NEW → CREATED → FAILED and records verdicts', () => {
    let state = initialOrderState();
    expect(state.status).toBe('NEW');
    state = evolve(state, created);
    expect(state).toMatchObject({ status: 'CREATED', details: { product: 'JUMPERS', quantity: 2 } });
    state = evolve(state, verdict('FRAUD_CHECK', 'FAIL', 'x'));
    expect(state.checks.FRAUD_CHECK).toEqual({ result: 'FAIL', reason: 'x' });
    state = evolve(state, event({ type: 'OrderFailed', data: { orderId: 'o1', product: 'JUMPERS', checks: [] } }));
    expect(state.status).toBe('FAILED');
  });

  it('tolerates a verdict applied twice (input and state topic are the same)', () => {
    const once = evolve(evolve(initialOrderState(), created), verdict('FRAUD_CHECK', 'PASS'));
    expect(evolve(once, verdict('FRAUD_CHECK', 'PASS'))).toEqual(once);
  });
});
