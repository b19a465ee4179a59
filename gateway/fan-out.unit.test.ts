/**
 * The fan-out (./fan-out.ts) on its own, without sockets or GraphQL: live queues push events, subscribers record
 * what is written to them and when they end.
 */
import { describe, expect, it, vi } from 'vitest';
import { createFanOut, WRITES_PER_SLICE, type Subscriber } from './fan-out.ts';
import { createLiveQueue } from '../services/shared/graphql/index.ts';

type Event = { n: number };

/** A subscriber of `operation` recording its writes (each write is one array of payloads) and its endings. */
function recorder(operation = 'ticks', execute: Subscriber['execute'] = async (event) => String((event as Event).n)) {
  const record = { writes: [] as string[][], ended: 0, log: [] as string[] };
  const subscriber: Subscriber = {
    operation,
    execute,
    write: (payloads) => {
      record.writes.push(payloads);
      record.log.push(...payloads);
    },
    ended: () => {
      record.ended += 1;
      record.log.push('ended');
    },
  };
  return { subscriber, record };
}

/** A live queue subscribed through the fan-out, its iterator started as graphql-ws starts it. */
function subscribed(fanOut: ReturnType<typeof createFanOut>, subscriber: Subscriber) {
  let sourceClosed = 0;
  const feed = createLiveQueue<Event>(() => (sourceClosed += 1));
  const iterator = fanOut.subscribe(feed.iterator as AsyncGenerator<unknown>, subscriber);
  const done = iterator.next();
  done.catch(() => {});
  return { feed, iterator, done, sourceClosed: () => sourceClosed };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('fan-out', () => {
  it('gives a subscriber the latest of the conflatable states its writes have not reached, never reordering, and keeps every other frame', async () => {
    const fanOut = createFanOut();
    const { subscriber, record } = recorder();
    const { feed } = subscribed(fanOut, subscriber);
    await turn();
    // Pushed before the fan-out writes: 1 and 2 are states (2 replaces 1), 3 is not, 4 and 5 are states again.
    feed.push({ n: 1 }, true);
    feed.push({ n: 2 }, true);
    feed.push({ n: 3 });
    feed.push({ n: 4 }, true);
    feed.push({ n: 5 }, true);
    await vi.waitFor(() => expect(record.log.at(-1)).toBe('5'));
    expect(record.log).toEqual(['2', '3', '5']);
    // Written ones are never taken back: a state pushed once its frame is out goes out too.
    feed.push({ n: 6 }, true);
    await vi.waitFor(() => expect(record.log.at(-1)).toBe('6'));
    expect(record.log).toEqual(['2', '3', '5', '6']);
  });

  it('executes an event once per operation and writes it to every subscriber it reached, in push order', async () => {
    const fanOut = createFanOut();
    const executed: string[] = [];
    const execute = (operation: string) => async (event: unknown) => {
      executed.push(`${operation}:${(event as Event).n}`);
      return `${operation}${(event as Event).n}`;
    };
    const subscribers = [
      ...[1, 2, 3].map(() => recorder('a', execute('a'))),
      recorder('b', execute('b')),
    ];
    const feeds = subscribers.map(({ subscriber }) => subscribed(fanOut, subscriber).feed);
    const events = [{ n: 1 }, { n: 2 }];
    for (const event of events) for (const feed of feeds) feed.push(event);
    await vi.waitFor(() => expect(subscribers.every(({ record }) => record.log.length === 2)).toBe(true));
    for (const { record } of subscribers.slice(0, 3)) expect(record.log).toEqual(['a1', 'a2']);
    expect(subscribers[3].record.log).toEqual(['b1', 'b2']);
    expect(executed.sort()).toEqual(['a:1', 'a:2', 'b:1', 'b:2']);
  });

  it('writes a subscriber\'s events of one turn in one write', async () => {
    const { subscriber, record } = recorder();
    const { feed } = subscribed(createFanOut(), subscriber);
    for (const n of [1, 2, 3]) feed.push({ n });
    await vi.waitFor(() => expect(record.writes).toEqual([['1', '2', '3']]));
  });

  it('ends a subscription its feed ended only after the frames pushed before the end', async () => {
    const { subscriber, record } = recorder();
    const { feed, done } = subscribed(createFanOut(), subscriber);
    feed.push({ n: 1 });
    feed.close();
    expect(await done).toEqual({ done: true, value: undefined });
    expect(record.log).toEqual(['1', 'ended']);
  });

  it('keeps each subscriber\'s order when an event and the end arrive while a fan-out is still being written', async () => {
    const fanOut = createFanOut();
    // Three slices: the second is written while the next event executes, the third once it has.
    const subscribers = Array.from({ length: 2 * WRITES_PER_SLICE + 44 }, () => recorder());
    const feeds = subscribers.map(({ subscriber }) => subscribed(fanOut, subscriber).feed);
    const first = { n: 1 };
    for (const feed of feeds) feed.push(first);
    await turn();
    // The first slice is written, the rest not yet: the next event and the end join the last slice's frames.
    expect(subscribers.filter(({ record }) => record.writes.length).length).toBe(WRITES_PER_SLICE);
    const second = { n: 2 };
    for (const feed of feeds) feed.push(second);
    for (const feed of feeds) feed.close();
    await vi.waitFor(() => expect(subscribers.every(({ record }) => record.ended === 1)).toBe(true));
    for (const { record } of subscribers) expect(record.log).toEqual(['1', '2', 'ended']);
    expect(subscribers[0].record.writes).toEqual([['1'], ['2']]);
    expect(subscribers.at(-1)!.record.writes).toEqual([['1', '2']]);
  });

  it('ends a subscription whose execution failed with that error, after the frames it is owed', async () => {
    const failure = new Error('execution failed');
    const { subscriber, record } = recorder('ticks', async (event) => {
      if ((event as Event).n === 2) throw failure;
      return String((event as Event).n);
    });
    const { feed, done, sourceClosed } = subscribed(createFanOut(), subscriber);
    feed.push({ n: 1 });
    feed.push({ n: 2 });
    await expect(done).rejects.toBe(failure);
    expect(record.log).toEqual(['1', 'ended']);
    expect(sourceClosed()).toBe(1);
  });

  it('writes nothing more to a subscriber whose client ended it, and ends it once', async () => {
    const fanOut = createFanOut();
    const { subscriber, record } = recorder();
    const { feed, iterator, done, sourceClosed } = subscribed(fanOut, subscriber);
    feed.push({ n: 1 });
    await vi.waitFor(() => expect(record.log).toEqual(['1']));
    feed.push({ n: 2 }); // on its way when the client completes
    expect(await iterator.return(undefined)).toEqual({ done: true, value: undefined });
    expect(await done).toEqual({ done: true, value: undefined });
    await turn();
    await turn();
    expect(record.log).toEqual(['1', 'ended']);
    expect(sourceClosed()).toBe(1);
  });

  it('hands on the events a feed held before the subscription started', async () => {
    const { subscriber, record } = recorder();
    const feed = createLiveQueue<Event>(() => {});
    feed.push({ n: 0 }); // the current state, sent by the subscribe resolver
    const iterator = createFanOut().subscribe(feed.iterator as AsyncGenerator<unknown>, subscriber);
    await turn();
    expect(record.log).toEqual([]); // not before graphql-ws asks for the first value
    void iterator.next();
    await vi.waitFor(() => expect(record.log).toEqual(['0']));
  });

  it('reads a source that is not a live queue in a loop, then ends the subscription', async () => {
    const { subscriber, record } = recorder();
    const countdown = (async function* () {
      for (const n of [3, 2, 1]) yield { n };
    })();
    expect(await createFanOut().subscribe(countdown, subscriber).next()).toEqual({ done: true, value: undefined });
    expect(record.log).toEqual(['3', '2', '1', 'ended']);
  });
});
