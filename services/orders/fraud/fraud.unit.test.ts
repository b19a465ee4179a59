import { describe, expect, it } from 'vitest';
import { specify } from '../../../test/support/decider.ts';
import { event } from '../testing.ts';
import { checkCompleted, type EventOfType } from '../contract.ts';
import { fraudService } from './handler.ts';

const HOUR = 60 * 60 * 1000;
const t0 = new Date('2026-11-25T10:00:00Z');
const order = (orderId: string, price: number, at: Date, customerId = 'c1') =>
  event({ type: 'OrderCreated', data: { orderId, customerId, product: 'P', quantity: 1, price, currency: 'EUR' } }, at) as EventOfType<'OrderCreated'>;
/** The verdict the fraud service gave, as it sits in its state topic. */
const judged = (o: EventOfType<'OrderCreated'>, result: 'PASS' | 'FAIL') => event(checkCompleted(o, 'FRAUD_CHECK', result, result === 'FAIL' ? 'x' : null));
const fraud = specify(fraudService);

describe('fraud: decide', () => {
  it('passes, then fails, then fails a session of 1000, 2000, 2005', () => {
    const a = order('a', 1000, t0);
    const b = order('b', 2000, new Date(t0.getTime() + 60_000));
    const c = order('c', 2005, new Date(t0.getTime() + 120_000));
    fraud.given([]).when(a).then([checkCompleted(a, 'FRAUD_CHECK', 'PASS')]);
    fraud.given([judged(a, 'PASS')]).when(b).thenMatches([{ data: { result: 'FAIL' } }]);
    fraud.given([judged(a, 'PASS'), judged(b, 'FAIL')]).when(c).thenMatches([{ data: { result: 'FAIL' } }]);
  });

  it('fails a single order of exactly 2000', () => {
    fraud.given([]).when(order('a', 2000, t0)).thenMatches([{ data: { result: 'FAIL', reason: expect.stringMatching(/2000/) } }]);
  });

  it('starts a new session after an hour without orders', () => {
    const a = order('a', 1500, t0);
    fraud.given([judged(a, 'PASS')]).when(order('b', 1500, new Date(t0.getTime() + HOUR))).thenMatches([{ data: { result: 'PASS' } }]);
    fraud.given([judged(a, 'PASS')]).when(order('b', 1500, new Date(t0.getTime() + HOUR - 1))).thenMatches([{ data: { result: 'FAIL' } }]);
  });

  it('chains a session through orders less than an hour apart', () => {
    const a = order('a', 900, t0);
    const b = order('b', 900, new Date(t0.getTime() + 50 * 60_000));
    const c = order('c', 300, new Date(t0.getTime() + 100 * 60_000)); // 100 min after a, 50 after b
    fraud.given([judged(a, 'PASS'), judged(b, 'PASS')]).when(c).thenMatches([{ data: { result: 'FAIL' } }]);
  });

  it('keeps customers apart', () => {
    const a = order('a', 1999, t0, 'c1');
    fraud.given([judged(a, 'PASS')]).when(order('b', 1999, t0, 'c2')).thenMatches([{ data: { result: 'PASS' } }]);
  });

  it('repeats its verdict for a redelivered order', () => {
    const a = order('a', 2500, t0);
    fraud.given([judged(a, 'FAIL')]).when(a).then([checkCompleted(a, 'FRAUD_CHECK', 'FAIL', 'x')]);
  });
});

describe('fraud: ids that are Object.prototype names', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('judges an order named %s like any other', (id) => {
    const o = order(id, 10, t0);
    fraud.given([]).when(o).then([checkCompleted(o, 'FRAUD_CHECK', 'PASS')]);
  });
});
