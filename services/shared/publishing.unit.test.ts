import type { ProducerBatch, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { maxMessageBytes } from './config.ts';
import type { LogPosition } from './messages.ts';
import { byRequestSize, placement, publishQueue, sendPlaced, type Placed } from './publishing.ts';
import { frame, type SchemaIds } from './wire.ts';

const placed = (key: string, cause = key, value = 'v', physical = 't', partition = 0): Placed =>
  ({ physical, partition, key, value, headers: {}, cause });

describe('placing messages', () => {
  const ids = { writerId: async (subject: string) => (subject === 'p.orders-value' ? 7 : 9) } as SchemaIds;
  const { place, placeReplies, deadLetter } = placement('p.', async (physical, key) => (physical === 'p.orders' ? key.length : 0), ids);
  const meta = { schemaVersion: 1, aggregateId: 'order-1', occurredAt: '2026-01-01T00:00:00.000Z', type: 'OrderPlaced', data: {} };

  it('puts an event under the prefix, keyed by its aggregate, with the events of the same cause', async () => {
    const event = { ...meta, kind: 'event' as const, eventId: 'e1', correlationId: 'c1', causationId: 'cmd-1' };
    expect(await place({ topic: 'orders', envelope: event })).toEqual({
      physical: 'p.orders', partition: 'order-1'.length, key: 'order-1', value: frame(7, JSON.stringify(event)), headers: { type: 'OrderPlaced' }, cause: 'cmd-1',
    });
  });

  it('places a message with a partition key by that key, keyed still by its aggregate', async () => {
    const event = { ...meta, kind: 'event' as const, eventId: 'e1', correlationId: 'c1', causationId: 'cmd-1' };
    expect(await place({ topic: 'orders', envelope: event, partitionKey: 'region#12' })).toMatchObject({ partition: 'region#12'.length, key: 'order-1' });
  });

  it('keeps a command with itself, and a forwarded message with the others of its key', async () => {
    const command = { ...meta, kind: 'command' as const, commandId: 'cmd-2' };
    expect(await place({ topic: 'orders', envelope: command })).toMatchObject({ key: 'order-1', cause: 'cmd-2' });
    const forwarded = await place({ topic: 'stock', key: 'sku-1', value: Buffer.from('x'), headers: { h: '1' }, timestamp: '5' });
    expect(forwarded).toEqual({ physical: 'p.stock', partition: 0, key: 'sku-1', value: Buffer.from('x'), headers: { h: '1' }, timestamp: '5', cause: 'p.stock:sku-1' });
  });

  it('keys a reply by its command, and a dead letter by where it was read, with the reason in its headers', async () => {
    const [reply] = await placeReplies([{ commandId: 'cmd-3', status: 'ACCEPTED', positions: [] }]);
    expect(reply).toMatchObject({ physical: 'p.command.replies', key: 'cmd-3', cause: 'cmd-3', value: frame(9, JSON.stringify({ commandId: 'cmd-3', status: 'ACCEPTED', positions: [] })) });
    const letter = deadLetter({ topic: 'p.orders', partition: 2, offset: '7', value: null, consumer: 'orders' }, 'bad data');
    expect(letter).toMatchObject({ topic: 'p.dead.letters', acks: -1, messages: [{ key: 'p.orders:2:7', value: null, headers: { reason: 'bad data', consumer: 'orders', sourceOffset: '7' } }] });
  });
});

describe('the publish queue', () => {
  it('sends what callers enqueue while a send is in flight together, and gives each caller its own positions', async () => {
    const sends: string[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const enqueue = publishQueue(async (items) => {
      sends.push(items.map((item) => item.key));
      if (sends.length === 1) await first;
      return items.map((item, i): LogPosition => ({ topic: item.physical, partition: 0, offset: `${sends.length}.${i}` }));
    });
    const a = enqueue([placed('a')]);
    const b = enqueue([placed('b1'), placed('b2')]);
    const c = enqueue([placed('c')]);
    release();
    expect(await a).toEqual([{ topic: 't', partition: 0, offset: '1.0' }]);
    expect((await b).map((p) => p.offset)).toEqual(['2.0', '2.1']);
    expect((await c).map((p) => p.offset)).toEqual(['2.2']);
    expect(sends).toEqual([['a'], ['b1', 'b2', 'c']]);
  });

  it('fails every caller of a failed send, and sends the next callers anyway', async () => {
    let calls = 0;
    const enqueue = publishQueue(async (items) => {
      calls += 1;
      if (calls === 1) throw new Error('broker away');
      return items.map(() => ({ topic: 't', partition: 0, offset: '0' }));
    });
    const failed = enqueue([placed('a')]);
    const next = enqueue([placed('b')]);
    await expect(failed).rejects.toThrow('broker away');
    await expect(next).resolves.toHaveLength(1);
  });
});

describe('requests by size', () => {
  it('cuts a publish into requests within the budget, in order', () => {
    const items = ['a', 'b', 'c', 'd'].map((key) => placed(key, key, 'x'.repeat(100)));
    const requests = byRequestSize(items, 2 * (100 + 1 + 64));
    expect(requests.map((r) => r.map((item) => item.key))).toEqual([['a', 'b'], ['c', 'd']]);
  });

  it('never splits the messages of one cause, even past the budget', () => {
    const items = [placed('a', 'one', 'x'.repeat(100)), placed('b', 'one', 'x'.repeat(100)), placed('c', 'two', 'x'.repeat(100))];
    expect(byRequestSize(items, 150).map((r) => r.map((item) => item.key))).toEqual([['a', 'b'], ['c']]);
  });
});

describe('sending placed messages', () => {
  it('answers consecutive offsets from each partition\'s base offset, in the order given', async () => {
    const batches: ProducerBatch[] = [];
    const positions = await sendPlaced(async (batch) => {
      batches.push(batch);
      return [
        { topicName: 't', partition: 0, baseOffset: '10' },
        { topicName: 'u', partition: 2, baseOffset: '5' },
      ] as RecordMetadata[];
    }, [placed('a', 'a', 'v', 't', 0), placed('b', 'b', 'v', 'u', 2), placed('c', 'c', 'v', 't', 0)]);
    expect(positions).toEqual([
      { topic: 't', partition: 0, offset: '10' },
      { topic: 'u', partition: 2, offset: '5' },
      { topic: 't', partition: 0, offset: '11' },
    ]);
    expect(batches).toHaveLength(1);
    expect(batches[0].topicMessages!.map((t) => [t.topic, t.messages.map((m) => m.key)])).toEqual([['t', ['a', 'c']], ['u', ['b']]]);
  });

  it('sends a publish larger than half the largest message in several requests', async () => {
    const counts: number[] = [];
    const value = 'x'.repeat(Math.ceil(maxMessageBytes() / 4));
    await sendPlaced(async (batch, count) => {
      counts.push(count);
      return batch.topicMessages!.map((t) => ({ topicName: t.topic, partition: 0, baseOffset: '0' }) as RecordMetadata);
    }, [placed('a', 'a', value), placed('b', 'b', value), placed('c', 'c', value)]);
    expect(counts).toEqual([1, 1, 1]);
  });

  it('fails UNAVAILABLE when the answer does not say where a partition\'s messages landed', async () => {
    const sent = sendPlaced(async () => [], [placed('a')]);
    await expect(sent).rejects.toMatchObject({ code: 'UNAVAILABLE', retriable: true });
  });
});
