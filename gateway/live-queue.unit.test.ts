import { describe, expect, it } from 'vitest';
import { createLiveQueue } from './live-queue.ts';

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
});
