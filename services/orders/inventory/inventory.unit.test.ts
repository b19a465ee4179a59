import { describe, expect, it } from 'vitest';
import { specify } from '../../../test/support/decider.ts';
import { command, event } from '../testing.ts';
import { checkCompleted, type EventOfType } from '../contract.ts';
import { inventoryService } from './handler.ts';
import { entries } from '../../shared/persistent-map.ts';
import { available, evolve, initialProductStock } from './evolve.ts';

const order = (orderId: string, quantity: number, product = 'JUMPERS') =>
  event({ type: 'OrderCreated', data: { orderId, customerId: 'c', product, quantity, price: 1, currency: 'EUR' } }) as EventOfType<'OrderCreated'>;
const added = (quantity: number, product = 'JUMPERS') => event({ type: 'StockAdded', data: { product, quantity } });
const reserved = (orderId: string, quantity: number) =>
  event({ type: 'StockReserved', data: { product: 'JUMPERS', orderId, quantity } });
const inventory = specify(inventoryService);

describe('inventory: decide', () => {
  it('adds stock', () => {
    inventory.given([]).when(command({ type: 'AddInventory', data: { product: 'JUMPERS', quantity: 10 } }))
      .then([{ type: 'StockAdded', data: { product: 'JUMPERS', quantity: 10 } }]);
  });

  it('rejects adding less than one unit', () => {
    inventory.given([]).when(command({ type: 'AddInventory', data: { product: 'JUMPERS', quantity: 0 } }))
      .thenRejects('INVALID_QUANTITY', /at least 1/);
  });

  it('reserves and passes when stock − reserved − quantity ≥ 0', () => {
    const o = order('o1', 3);
    inventory.given([added(10), reserved('o0', 7)]).when(o).then([
      { type: 'StockReserved', data: { product: 'JUMPERS', orderId: 'o1', quantity: 3 } },
      checkCompleted(o, 'INVENTORY_CHECK', 'PASS'),
    ]);
  });

  it('fails without reserving when stock would go below zero', () => {
    const o = order('o1', 4);
    const reason = 'insufficient stock of JUMPERS: 3 available, 4 requested';
    inventory.given([added(10), reserved('o0', 7)]).when(o).then([
      { type: 'StockReservationFailed', data: { product: 'JUMPERS', orderId: 'o1', quantity: 4, reason } },
      checkCompleted(o, 'INVENTORY_CHECK', 'FAIL', reason),
    ]);
  });

  it('fails an unknown product instead of staying silent', () => {
    const o = order('o1', 1, 'GLOVES');
    inventory.given([added(10)]).when(o).thenMatches([
      { type: 'StockReservationFailed', data: { reason: 'unknown product GLOVES' } },
      { type: 'OrderCheckCompleted', data: { result: 'FAIL', reason: 'unknown product GLOVES' } },
    ]);
  });

  it('repeats its verdict for a redelivered order without reserving twice', () => {
    const o = order('o1', 3);
    inventory.given([added(10), reserved('o1', 3)]).when(o).then([checkCompleted(o, 'INVENTORY_CHECK', 'PASS')]);
  });

  it('releases the reservation of a failed order, once', () => {
    const failed = event({ type: 'OrderFailed', data: { orderId: 'o1', product: 'JUMPERS', checks: [] } });
    inventory.given([added(10), reserved('o1', 3)]).when(failed)
      .then([{ type: 'StockReleased', data: { product: 'JUMPERS', orderId: 'o1', quantity: 3 } }]);
    const released = event({ type: 'StockReleased', data: { product: 'JUMPERS', orderId: 'o1', quantity: 3 } });
    inventory.given([added(10), reserved('o1', 3), released]).when(failed).then([]);
  });
});

describe('inventory: evolve', () => {
  it('tracks stock, reservations and releases', () => {
    let state = initialProductStock();
    for (const e of [added(10), reserved('o1', 3), reserved('o2', 2)]) state = evolve(state, e);
    expect(available(state)).toBe(5);
    state = evolve(state, event({ type: 'StockReleased', data: { product: 'JUMPERS', orderId: 'o1', quantity: 3 } }));
    expect({ stock: state.stock, reserved: state.reserved, open: [...entries(state.reservations)].map(([id]) => id) }).toEqual({ stock: 10, reserved: 2, open: ['o2'] });
  });

  it('leaves the state it was given as it was (a failed publish rolls back to it)', () => {
    const before = evolve(evolve(initialProductStock(), added(10)), reserved('o1', 3));
    const after = evolve(evolve(before, reserved('o2', 2)), event({ type: 'StockReleased', data: { product: 'JUMPERS', orderId: 'o1', quantity: 3 } }));
    expect([...entries(after.reservations)].map(([id]) => id)).toEqual(['o2']);
    expect({ reserved: before.reserved, open: [...entries(before.reservations)].map(([id]) => id), released: before.released.size }).toEqual({ reserved: 3, open: ['o1'], released: 0 });
  });
});

describe('inventory: ids that are Object.prototype names', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('reserves for an order named %s, and releases it once', (id) => {
    const placed = order(id, 2);
    inventory.given([added(5)]).when(placed).then([
      { type: 'StockReserved', data: { product: 'JUMPERS', orderId: id, quantity: 2 } },
      checkCompleted(placed, 'INVENTORY_CHECK', 'PASS'),
    ]);
    let state = evolve(evolve(initialProductStock(), added(5)), reserved(id, 2));
    expect(state.reserved).toBe(2);
    state = evolve(state, event({ type: 'StockReleased', data: { product: 'JUMPERS', orderId: id, quantity: 2 } }));
    state = evolve(state, event({ type: 'StockReleased', data: { product: 'JUMPERS', orderId: id, quantity: 2 } }));
    expect(state.reserved).toBe(0);
  });
});
