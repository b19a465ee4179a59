import { describe, expect, it } from 'vitest';
import { writeOf, type BatchDecision } from './batch.ts';
import { SystemError } from './errors.ts';
import { ORIGIN_TOPIC_HEADER, type EventEnvelope, type LogPosition } from './messages.ts';
import type { ServiceDefinition } from './service.ts';

// Deciding itself is tested through real services (services/orders/runtime-batch.unit.test.ts); here, what a decision writes.
const definition = {
  name: 'stock',
  contract: { outgoing: (event: EventEnvelope) => ({ topic: 'stock.events', envelope: event }) },
} as unknown as ServiceDefinition<unknown>;
const event = (eventId: string) => ({ kind: 'event', eventId }) as EventEnvelope;
const at = (offset: number): LogPosition => ({ topic: 'stock.events', partition: 0, offset: String(offset) });

function decision(parts: Partial<BatchDecision>): BatchDecision {
  return { outputs: [], decidedIn: [], forwards: [], answers: [], deadLetters: [], rollback: () => {}, ...parts };
}

describe('what a decision writes', () => {
  it('answers each command with the positions of its own events, or those of its first delivery', () => {
    const write = writeOf(definition, decision({
      outputs: [event('e1'), event('e2'), event('e3')],
      answers: [
        { commandId: 'c1', from: 0, to: 1 },
        { commandId: 'c2', from: 1, to: 3 },
        { commandId: 'c0', from: 0, to: 0, repeated: [at(3)] },
      ],
    }), 'stock.commands', 2, 1_000);
    expect(write.messages.map((m) => m.topic)).toEqual(['stock.events', 'stock.events', 'stock.events']);
    expect(write.after([at(7), at(8), at(9)]).replies).toEqual([
      { commandId: 'c1', status: 'ACCEPTED', positions: [at(7)] },
      { commandId: 'c2', status: 'ACCEPTED', positions: [at(8), at(9)] },
      { commandId: 'c0', status: 'ACCEPTED', positions: [at(3)] },
    ]);
  });

  it('refuses a rejected command with its code and message, and its details when it has any', () => {
    const write = writeOf(definition, decision({
      answers: [
        { commandId: 'c1', from: 0, to: 0, rejection: new SystemError('INSUFFICIENT_STOCK', 'only 2 left', false, { stock: 2 }) },
        { commandId: 'c2', from: 0, to: 0, rejection: new SystemError('INVALID_QUANTITY', 'zero') },
      ],
    }), 'stock.commands', 0, 1_000);
    expect(write.after([]).replies).toEqual([
      { commandId: 'c1', status: 'REJECTED', code: 'INSUFFICIENT_STOCK', message: 'only 2 left', positions: [], details: { stock: 2 } },
      { commandId: 'c2', status: 'REJECTED', code: 'INVALID_QUANTITY', message: 'zero', positions: [] },
    ]);
  });

  it('forwards an input of another task\'s state after the events, keyed by its state key and naming its origin', () => {
    const message = { offset: '5', key: Buffer.from('order-1'), value: Buffer.from('{}'), headers: { trace: 't' }, timestamp: '1000' };
    const write = writeOf(definition, decision({
      outputs: [event('e1')],
      forwards: [{ stateKey: 'product-9', message, topic: 'orders.events' }],
    }), 'stock.commands', 0, 1_000);
    expect(write.messages[1]).toEqual({
      topic: 'stock.repartition', key: 'product-9', value: Buffer.from('{}'), headers: { trace: 't', [ORIGIN_TOPIC_HEADER]: 'orders.events' }, timestamp: '1000',
    });
  });

  it('dead-letters a forward its state key would make too large for Kafka, with the decision\'s own dead letters', () => {
    const big = { offset: '6', key: null, value: Buffer.alloc(990) };
    const write = writeOf(definition, decision({
      forwards: [{ stateKey: 'k'.repeat(20), message: big, topic: 'orders.events' }],
      deadLetters: [{ offset: '4', value: Buffer.from('not json'), reason: 'message value is not JSON' }],
    }), 'orders.events', 1, 1_000);
    expect(write.messages).toEqual([]);
    expect(write.deadLetters.map(({ offset }) => offset)).toEqual(['4', '6']);
    expect(write.after([]).deadLetters).toEqual([
      { source: { topic: 'orders.events', partition: 1, offset: '4', value: Buffer.from('not json'), consumer: 'stock' }, reason: 'message value is not JSON' },
      {
        source: { topic: 'orders.events', partition: 1, offset: '6', value: big.value, consumer: 'stock' },
        reason: 'MESSAGE_TOO_LARGE: forwarding it keyed by its state key would be 1010 bytes; Kafka takes at most 1000',
      },
    ]);
  });
});
