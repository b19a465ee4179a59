import { describe, expect, it } from 'vitest';
import { createLiveQueue, PUSH_TO, type PushTarget } from './live-queue.ts';

describe('a live queue', () => {
  it('delivers in order, replacing only an untaken conflatable value with a newer one', async () => {
    const queue = createLiveQueue<string>(() => {});
    queue.push('state A');
    queue.push('position 1', true);
    queue.push('position 2', true); // replaces position 1, not yet taken
    queue.push('state B');
    queue.push('position 3', true);
    const taken = [];
    for (let i = 0; i < 4; i += 1) taken.push((await queue.iterator.next()).value);
    expect(taken).toEqual(['state A', 'position 2', 'state B', 'position 3']);
  });

  it('ends a waiting client when closed, and runs onClose once whichever side ends it', async () => {
    let closed = 0;
    const queue = createLiveQueue<number>(() => (closed += 1));
    const waiting = queue.iterator.next();
    queue.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
    await queue.iterator.return!();
    expect(closed).toBe(1);
  });

  it('ends a subscriber that lets more than its bound pile up, with SLOW_CONSUMER, and stops holding its values', async () => {
    let closed = 0;
    const queue = createLiveQueue<number>(() => (closed += 1), 3);
    for (let i = 0; i < 2; i += 1) queue.push(i);
    for (let i = 0; i < 10; i += 1) queue.push(100 + i, true); // conflated: one waiting position
    expect(closed).toBe(0);
    queue.push(4);
    expect(closed).toBe(1);
    await expect(queue.iterator.next()).rejects.toMatchObject({ code: 'SLOW_CONSUMER', details: { max: 3 } });
    queue.push(5);
    expect(await queue.iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('hands what waits, then every value pushed, to a push target, and tells it the end', () => {
    let closed = 0;
    const queue = createLiveQueue<string>(() => (closed += 1), 2);
    queue.push('waiting 1');
    queue.push('waiting 2');
    const got: string[] = [];
    const ends: unknown[] = [];
    const target: PushTarget<string> = { value: (v) => got.push(v), end: (failure) => ends.push(failure ?? 'done') };
    (queue.iterator as unknown as Record<typeof PUSH_TO, (t: PushTarget<string>) => void>)[PUSH_TO](target);
    for (const v of ['a', 'b', 'c']) queue.push(v); // more than maxQueued: nothing waits, so no slow consumer here
    expect(got).toEqual(['waiting 1', 'waiting 2', 'a', 'b', 'c']);
    queue.close();
    queue.push('after the end');
    expect({ got: got.length, ends, closed }).toEqual({ got: 5, ends: ['done'], closed: 1 });
  });

  it('tells a push target taken after the end that it has ended, with the failure', () => {
    const queue = createLiveQueue<number>(() => {}, 1);
    queue.push(1);
    queue.push(2); // a slow consumer: ended with SLOW_CONSUMER
    const ends: unknown[] = [];
    (queue.iterator as unknown as Record<typeof PUSH_TO, (t: PushTarget<number>) => void>)[PUSH_TO]({ value: () => {}, end: (f) => ends.push(f) });
    expect(ends).toMatchObject([{ code: 'SLOW_CONSUMER' }]);
  });
});
