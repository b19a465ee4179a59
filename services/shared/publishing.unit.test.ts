import type { ProducerBatch, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { maxMessageBytes } from './config.ts';
import type { LogPosition } from './messages.ts';
import { byRequestSize, publishQueue, sendPlaced, type Placed } from './publishing.ts';

const placed = (key: string, cause = key, value = 'v', physical = 't', partition = 0): Placed =>
  ({ physical, partition, key, value, headers: {}, cause });

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
