import { describe, expect, it } from 'vitest';
import { SystemError } from '../shared/errors.ts';
import { ordersContract } from './contract.ts';
import { framed } from '../../test/support/wire.ts';

const { decode, validate } = ordersContract;
const createEvent = ordersContract.event;
const cause = ordersContract.command({ type: 'PlaceOrder', data: { orderId: 'o1', customerId: 'c', product: 'P', quantity: 1, price: 1 } });

describe('message envelopes', () => {
  it('records id, type, version, aggregate, time, correlation and causation on every event', () => {
    const now = new Date('2026-11-25T10:00:00Z');
    const e = createEvent({ type: 'OrderValidated', data: { orderId: 'o1', checks: [] } }, cause, now);
    expect(e).toMatchObject({
      kind: 'event', type: 'OrderValidated', schemaVersion: 1, aggregateId: 'o1',
      occurredAt: now.toISOString(), correlationId: cause.commandId, causationId: cause.commandId,
    });
    const next = createEvent({ type: 'OrderValidated', data: { orderId: 'o1', checks: [] } }, e, now);
    expect(next.correlationId).toBe(cause.commandId);
    expect(next.causationId).toBe(e.eventId);
  });

  it('refuses to produce an event that breaks its schema', () => {
    expect(() => createEvent({ type: 'StockAdded', data: { product: 'P', quantity: -3 } }, cause, new Date())).toThrow(SystemError);
  });

  it('rejects unreadable, unknown, mis-versioned and malformed messages on consume', () => {
    const good = JSON.parse(JSON.stringify(cause));
    expect(decode(framed(good))).toEqual(good);
    for (const [bad, reason] of [
      [framed('not json'), /not JSON/],
      [Buffer.from(JSON.stringify(good)), /not the wire format's magic byte 0/],
      [framed({ ...good, type: 'Nope' }), /invalid envelope/],
      [framed({ ...good, schemaVersion: 2 }), /schema version 2/],
      [framed({ ...good, data: { orderId: 'o1' } }), /invalid PlaceOrder/],
    ] as const) {
      expect(() => decode(bad)).toThrow(reason);
    }
    expect(() => validate(null)).toThrow(SystemError);
  });
});
