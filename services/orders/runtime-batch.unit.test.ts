import { describe, expect, it } from 'vitest';
import { command, event } from './testing.ts';
import { decideBatch, type ServiceMemory } from '../shared/batch.ts';
import { decidedEventId } from '../shared/messages.ts';
import type { Envelope } from './contract.ts';
import { inventoryService } from './inventory/handler.ts';
import { ordersService } from './orders/handler.ts';
import { framed, TEST_SCHEMA_ID } from '../../test/support/wire.ts';

// The batch runtime (services/shared/batch.ts) exercised through two real services of this domain.
const messages = (...items: (Envelope | string)[]) =>
  items.map((item, i) => ({ offset: String(i), key: null, value: framed(item) }));
const memory = <S>(): ServiceMemory<S> => ({ states: new Map(), handled: new Map() });

describe('deciding a fetched batch', () => {
  it('decides each message against the state the previous one left', () => {
    const mem = memory<any>();
    const { outputs } = decideBatch(inventoryService, mem, 'inventory.commands', messages(
      command({ type: 'AddInventory', data: { product: 'P', quantity: 1 } }),
      command({ type: 'AddInventory', data: { product: 'P', quantity: 2 } }),
    ));
    expect(outputs.map((e) => e.type)).toEqual(['StockAdded', 'StockAdded']);
    expect(mem.states.get('P')).toMatchObject({ stock: 3 });
  });

  it('answers a command repeated in the batch, or handled before, without deciding it again', () => {
    const mem = memory<any>();
    const add = command({ type: 'AddInventory', data: { product: 'P', quantity: 4 } });
    const earlier = command({ type: 'AddInventory', data: { product: 'P', quantity: 9 } });
    mem.handled.set(earlier.commandId, [{ topic: 'inventory.events', partition: 1, offset: '7' }]);
    const { outputs, answers } = decideBatch(inventoryService, mem, 'inventory.commands', messages(add, add, earlier));
    expect(outputs).toHaveLength(1);
    expect(mem.states.get('P')).toMatchObject({ stock: 4 });
    expect(answers).toEqual([
      { commandId: add.commandId, from: 0, to: 1 },
      { commandId: add.commandId, from: 0, to: 1 },
      { commandId: earlier.commandId, from: 0, to: 0, repeated: [{ topic: 'inventory.events', partition: 1, offset: '7' }] },
    ]);
  });

  it('rejects a command and dead-letters unreadable messages, and carries on with the rest', () => {
    const mem = memory<any>();
    const zero = command({ type: 'AddInventory', data: { product: 'P', quantity: 0 } });
    const { outputs, answers, deadLetters } = decideBatch(inventoryService, mem, 'inventory.commands', [
      ...messages(zero, 'not json'),
      ...messages(command({ type: 'AddInventory', data: { product: 'P', quantity: 1 } })).map((m) => ({ ...m, offset: '2' })),
    ]);
    expect(answers[0]).toMatchObject({ commandId: zero.commandId, rejection: { code: 'INVALID_QUANTITY' } });
    expect(deadLetters).toEqual([{ offset: '1', value: framed('not json'), reason: `message value (schema id ${TEST_SCHEMA_ID}) is not JSON` }]);
    expect(outputs.map((e) => e.type)).toEqual(['StockAdded']);
  });

  it('decides a redelivered event once: its consequences are remembered by its id', () => {
    const mem = memory<any>();
    mem.states.set('P', inventoryService.evolve(inventoryService.initialState(), event({ type: 'StockAdded', data: { product: 'P', quantity: 5 } })));
    const created = event({ type: 'OrderCreated', data: { orderId: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 1, currency: 'EUR' } });
    const first = decideBatch(inventoryService, mem, 'orders.events', messages(created, created));
    expect(first.outputs.map((e) => [e.type, e.producer])).toEqual([['StockReserved', 'inventory'], ['OrderCheckCompleted', 'inventory']]);
    // The runtime remembers where the outputs landed; a later delivery of the same event decides nothing.
    mem.handled.set(created.eventId, [{ topic: 'inventory.events', partition: 0, offset: '0' }]);
    expect(decideBatch(inventoryService, mem, 'orders.events', messages(created)).outputs).toEqual([]);
  });

  it('folds input events from a state topic before deciding (orders closes the order on the third verdict)', () => {
    const mem = memory<any>();
    const created = event({ type: 'OrderCreated', data: { orderId: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 1, currency: 'EUR' } });
    mem.states.set('o1', ordersService.evolve(ordersService.initialState(), created));
    const verdict = (checkType: 'INVENTORY_CHECK' | 'FRAUD_CHECK' | 'ORDER_DETAILS_CHECK') =>
      event({ type: 'OrderCheckCompleted', data: { orderId: 'o1', checkType, result: 'PASS', reason: null, customerId: 'c', orderTotal: 1, orderedAt: created.occurredAt } });
    const { outputs } = decideBatch(ordersService, mem, 'order.validations', messages(verdict('FRAUD_CHECK'), verdict('INVENTORY_CHECK'), verdict('ORDER_DETAILS_CHECK')));
    expect(outputs.map((e) => e.type)).toEqual(['OrderValidated']);
  });

  it('puts the state back when the batch fails, or when rollback() is called after a failed publish', () => {
    const failing: typeof inventoryService = {
      ...inventoryService,
      decide: (input, state, now) => {
        if (input.type === 'AddInventory' && input.data.product === 'BOOM') throw new Error('a bug');
        return inventoryService.decide(input, state, now);
      },
    };
    const mem = memory<any>();
    const before = decideBatch(failing, mem, 'inventory.commands', messages(command({ type: 'AddInventory', data: { product: 'P', quantity: 1 } })));
    expect(mem.states.get('P')).toMatchObject({ stock: 1 });
    expect(() =>
      decideBatch(failing, mem, 'inventory.commands', messages(
        command({ type: 'AddInventory', data: { product: 'P', quantity: 5 } }),
        command({ type: 'AddInventory', data: { product: 'NEW', quantity: 5 } }),
        command({ type: 'AddInventory', data: { product: 'BOOM', quantity: 1 } }),
      )),
    ).toThrow('a bug');
    expect(mem.states.get('P')).toMatchObject({ stock: 1 });
    expect(mem.states.has('NEW')).toBe(false);
    before.rollback();
    expect(mem.states.has('P')).toBe(false);
  });

  it('gives the events decided from one input the same ids when it is decided again, and distinct ids otherwise', () => {
    const add = command({ type: 'AddInventory', data: { product: 'P', quantity: 2 } });
    const first = decideBatch(inventoryService, memory<any>(), 'inventory.commands', messages(add)).outputs;
    // A retry after a publish that timed out decides the input again from the restored state: same ids.
    const again = decideBatch(inventoryService, memory<any>(), 'inventory.commands', messages(add)).outputs;
    expect(again.map((e) => e.eventId)).toEqual(first.map((e) => e.eventId));
    expect(first[0].eventId).toBe(decidedEventId('inventory', add.commandId, 0));
    expect(first[0].eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const other = command({ type: 'AddInventory', data: { product: 'P', quantity: 2 } });
    expect(decideBatch(inventoryService, memory<any>(), 'inventory.commands', messages(other)).outputs[0].eventId).not.toBe(first[0].eventId);
    // One input's several events, and the same input decided by another service, differ too.
    const created = event({ type: 'OrderCreated', data: { orderId: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 1, currency: 'EUR' } });
    const both = decideBatch(inventoryService, memory<any>(), 'orders.events', messages(created)).outputs.map((e) => e.eventId);
    expect(new Set(both).size).toBe(2);
    expect(decidedEventId('fraud', created.eventId, 0)).not.toBe(both[0]);
  });
});

describe('state kept per partition', () => {
  const created = (orderId: string, product: string) =>
    event({ type: 'OrderCreated', data: { orderId, customerId: 'c', product, quantity: 1, price: 1, currency: 'EUR' } });

  it('forwards, undecided, a message whose state is kept on another partition, and decides the rest', () => {
    const mem = memory<any>();
    const local = command({ type: 'AddInventory', data: { product: 'P', quantity: 1 } });
    const elsewhere = created('o1', 'Q');
    const ignored = event({ type: 'OrderValidated', data: { orderId: 'o1', checks: [] } });
    const batch = messages(local, elsewhere, ignored);
    const { outputs, forwards, answers } = decideBatch(inventoryService, mem, 'orders.events', batch, { memoryOf: (key) => (key === 'P' ? mem : undefined) });
    expect(outputs.map((e) => e.type)).toEqual(['StockAdded']);
    expect(answers).toHaveLength(1);
    // Keyed by its state key, read later as the topic it was written to; a message of no state stays here (ignored).
    expect(forwards).toEqual([{ stateKey: 'Q', message: batch[1], topic: 'orders.events' }]);
    expect([...mem.states.keys()]).toEqual(['P']);
    expect(mem.handled.size).toBe(0);
  });

  it('decides a forwarded message on the partition holding its state, read as the topic it was first written to', () => {
    // Two instances' memories: Q's stock is on partition 1 only.
    const partition0 = memory<any>();
    const partition1 = memory<any>();
    partition1.states.set('Q', inventoryService.evolve(inventoryService.initialState(), event({ type: 'StockAdded', data: { product: 'Q', quantity: 1 } })));
    const isOn = (partition: number) => (key: string) => ((key === 'Q' ? 1 : 0) === partition ? [partition0, partition1][partition] : undefined);
    const order = created('o1', 'Q');
    const landed = decideBatch(inventoryService, partition0, 'orders.events', messages(order), { memoryOf: isOn(0) });
    expect(landed.outputs).toEqual([]);
    const forwarded = landed.forwards.map(({ message, topic }) => ({ ...message, topic }));
    const decided = decideBatch(inventoryService, partition1, 'inventory.repartition', forwarded, { memoryOf: isOn(1) });
    expect(decided.outputs.map((e) => e.type)).toEqual(['StockReserved', 'OrderCheckCompleted']);
    expect(decided.outputs[1].data).toMatchObject({ result: 'PASS' });
    expect(partition1.states.get('Q')).toMatchObject({ stock: 1 });
    expect(partition0.states.size).toBe(0);
  });

  it('decides a message against the memory holding its state when that is another partition of this instance, and rolls it back there', () => {
    const partition0 = memory<any>();
    const partition1 = memory<any>();
    partition1.states.set('Q', inventoryService.evolve(inventoryService.initialState(), event({ type: 'StockAdded', data: { product: 'Q', quantity: 1 } })));
    const order = created('o1', 'Q');
    const decided = decideBatch(inventoryService, partition0, 'orders.events', messages(order), { memoryOf: (key) => (key === 'Q' ? partition1 : partition0) });
    expect(decided.forwards).toEqual([]);
    expect(decided.outputs.map((e) => e.type)).toEqual(['StockReserved', 'OrderCheckCompleted']);
    expect(decided.decidedIn).toEqual([partition1, partition1]);
    expect(partition1.states.get('Q')).toMatchObject({ stock: 1, reserved: 1 });
    expect(partition0.states.size).toBe(0);
    decided.rollback();
    expect(partition1.states.get('Q')).toMatchObject({ stock: 1, reserved: 0 });
  });

  it('folds a forwarded event of a state topic before deciding, as if it came from that topic', () => {
    const mem = memory<any>();
    const order = created('o1', 'P');
    mem.states.set('o1', ordersService.evolve(ordersService.initialState(), order));
    const verdict = (checkType: 'INVENTORY_CHECK' | 'FRAUD_CHECK' | 'ORDER_DETAILS_CHECK') =>
      event({ type: 'OrderCheckCompleted', data: { orderId: 'o1', checkType, result: 'PASS', reason: null, customerId: 'c', orderTotal: 1, orderedAt: order.occurredAt } });
    const forwarded = messages(verdict('FRAUD_CHECK'), verdict('INVENTORY_CHECK'), verdict('ORDER_DETAILS_CHECK')).map((m) => ({ ...m, topic: 'order.validations' }));
    expect(decideBatch(ordersService, mem, 'orders.repartition', forwarded).outputs.map((e) => e.type)).toEqual(['OrderValidated']);
  });
});
