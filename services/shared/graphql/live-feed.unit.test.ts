import { describe, expect, it } from 'vitest';
import type { EventPosition } from '../event-index.ts';
import type { Logger } from '../log.ts';
import { createLiveFeed, type FeedPosition, type LiveFeedDomain } from './live-feed.ts';
import { fakeWatcher } from '../../../test/support/watcher.ts';

/**
 * A counter per key: each event adds its number; the log is the test's, one topic, one partition. `follows`: another
 * entity whose latest-wins values reach this counter (`relatedKey`).
 */
interface Counter { key: string; total: number; seen: number[]; follows?: string }
/** `latest`: a latest-wins value (a position), pushed without waiting for the projection and conflated. */
type Added = { add: number; latest?: boolean };

const at = (offset: number): FeedPosition => ({ topic: 't', logicalTopic: 't', partition: 0, offset: String(offset) });
const cursor = (offset: number): EventPosition => ({ aggregateId: 'k', occurredAt: new Date(0), topic: 't', partition: 0, offset: String(offset) });

/** The projection and the index of the fake domain: what `load` and `statesSince` read. */
function fakeDomain(): LiveFeedDomain<Counter, Added> & { rows: Map<string, Counter>; history: Counter[]; loads: number } {
  const domain = {
    rows: new Map<string, Counter>(),
    history: [] as Counter[],
    loads: 0,
    async load(key: string) {
      domain.loads += 1;
      return domain.rows.get(key) ?? null;
    },
    fold: (state: Counter | null, { key, event }: { key: string; event: Added }) =>
      state ? { ...state, key, total: state.total + event.add, seen: [...state.seen, event.add] } : null,
    conflates: (event: Added) => event.latest === true,
    isNewer: (next: Counter, last: Counter) => next.seen.length > last.seen.length,
    relatedKey: (counter: Counter) => counter.follows,
    async statesSince(_key: string, after: EventPosition) {
      return domain.history.slice(Number(after.offset) + 1);
    },
  };
  return domain;
}

const log = { warn() {}, info() {}, error() {}, debug() {} } as unknown as Logger;
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

async function take<T>(iterator: AsyncIterableIterator<T>, n: number): Promise<T[]> {
  const taken: T[] = [];
  while (taken.length < n) taken.push((await iterator.next()).value as T);
  return taken;
}

function setUp({ folds = true, latestStateWins = false } = {}) {
  const { watcher, project } = fakeWatcher();
  const domain = Object.assign(fakeDomain(), { latestStateWins });
  const feed = createLiveFeed(folds ? domain : { ...domain, fold: undefined }, { watcher, projectorsOf: () => ['p'], log, entity: 'counter' });
  return { feed, domain, project };
}

describe('createLiveFeed', () => {
  it('pushes one key\'s changes in log order, each once projected, whatever order the projection reports them in', async () => {
    const { feed, domain, project } = setUp();
    domain.rows.set('k', { key: 'k', total: 0, seen: [] });
    const updates = feed.updates('k');
    expect((await updates.next()).value).toEqual({ key: 'k', total: 0, seen: [] });
    feed.onMessage('k', at(0), () => ({ add: 1 }));
    feed.onMessage('k', at(1), () => ({ add: 2 }));
    feed.onMessage('k', at(2), () => ({ add: 3 }));
    await tick();
    project(2); // all at once, the last one's wait first
    expect((await take(updates, 3)).map((c) => c.seen)).toEqual([[1], [1, 2], [1, 2, 3]]);
    feed.close();
  });

  it('pushes only the newest whole state of changes whose projection lagged behind them (latestStateWins), in order, the last always', async () => {
    const { feed, domain, project } = setUp({ latestStateWins: true });
    domain.rows.set('k', { key: 'k', total: 0, seen: [] });
    const updates = feed.updates('k');
    expect((await updates.next()).value.seen).toEqual([]);
    feed.onMessage('k', at(0), () => ({ add: 1 }));
    project(0); // projected before the next change comes: pushed
    await tick();
    feed.onMessage('k', at(1), () => ({ add: 2 }));
    feed.onMessage('k', at(2), () => ({ add: 3 }));
    feed.onMessage('k', at(3), () => ({ add: 4 }));
    await tick();
    project(3);
    expect((await take(updates, 2)).map((c) => c.seen)).toEqual([[1], [1, 2, 3, 4]]);
    expect(await Promise.race([updates.next(), tick().then(() => 'nothing more')])).toBe('nothing more');
    feed.close();
  });

  it('makes a subscriber that arrives after an event was consumed but before it was projected wait for it', async () => {
    const { feed, domain, project } = setUp();
    domain.rows.set('k', { key: 'k', total: 0, seen: [] });
    feed.onMessage('k', at(7), () => { throw new Error('nobody watches: not decoded'); });
    const updates = feed.updates('k');
    await tick();
    expect(domain.loads).toBe(0); // still waiting for offset 7
    domain.rows.set('k', { key: 'k', total: 5, seen: [5] }); // what the projection shows once it has applied it
    project(7);
    expect((await updates.next()).value).toEqual({ key: 'k', total: 5, seen: [5] });
    feed.close();
  });

  it('resumes with each state since the cursor, skipping live pushes until caught up, then takes the live ones', async () => {
    const { feed, domain, project } = setUp();
    const states = [1, 2, 3, 4].map((n) => ({ key: 'k', total: n, seen: Array.from({ length: n }, () => 1) }));
    domain.rows.set('k', states[1]);
    domain.history = states.slice(0, 2);
    const other = feed.updates('k'); // someone watching already: the live pushes run
    expect((await other.next()).value).toBe(states[1]);
    project(1);
    // An event consumed before the resume: its push runs while the resumer catches up; the index has it by then.
    feed.onMessage('k', at(2), () => ({ add: 1 }));
    domain.history = states.slice(0, 3);
    const resumed = feed.updates('k', cursor(0));
    project(2);
    expect((await take(resumed, 2)).map((c) => c.total)).toEqual([2, 3]);
    expect((await other.next()).value.total).toBe(3);
    feed.onMessage('k', at(3), () => ({ add: 1 }));
    project(3);
    expect((await resumed.next()).value.total).toBe(4);
    feed.close();
    expect((await resumed.next()).done).toBe(true);
  });

  it('pushes a latest-wins value without waiting for the projection, conflated, to the watched keys it concerns', async () => {
    const { feed, domain } = setUp();
    domain.rows.set('a', { key: 'a', total: 0, seen: [], follows: 'x' });
    domain.rows.set('b', { key: 'b', total: 0, seen: [], follows: 'y' });
    const [a, b] = [feed.updates('a'), feed.updates('b')];
    await Promise.all([a.next(), b.next()]);
    // Another entity's events (nothing projects offset 9): two values while a's subscriber takes none.
    feed.onRelatedEvent('x', at(9), () => ({ add: 1, latest: true }));
    feed.onRelatedEvent('x', at(9), () => ({ add: 2, latest: true }));
    await tick();
    expect((await a.next()).value.seen).toEqual([1, 2]); // the newest only
    feed.onMessage('b', at(0), () => ({ add: 3 }));
    const nextOfA = a.next();
    const nextOfB = b.next();
    feed.onRelatedEvent('x', at(9), () => ({ add: 4, latest: true }));
    feed.onRelatedEvent('z', at(9), () => { throw new Error('nobody watched follows z: not decoded'); });
    expect((await nextOfA).value.seen).toEqual([1, 2, 4]);
    expect(await Promise.race([nextOfB, tick().then(() => 'nothing for b yet')])).toBe('nothing for b yet');
    feed.close();
  });

  it('without a fold, loads each change once projected, a burst in one read, and sends nothing unchanged', async () => {
    const { feed, domain, project } = setUp({ folds: false });
    domain.rows.set('k', { key: 'k', total: 0, seen: [] });
    const updates = feed.updates('k');
    expect((await updates.next()).value.total).toBe(0);
    const before = domain.loads;
    for (const offset of [0, 1, 2]) feed.onMessage('k', at(offset), () => ({ add: 1 }));
    domain.rows.set('k', { key: 'k', total: 3, seen: [1, 1, 1] });
    project(2);
    expect((await updates.next()).value.total).toBe(3);
    expect(domain.loads - before).toBe(1);
    feed.onMessage('k', at(3), () => ({ add: 0 })); // the projection shows the same: nothing to send
    project(3);
    await tick();
    domain.rows.set('k', { key: 'k', total: 4, seen: [1, 1, 1, 1] });
    feed.onMessage('k', at(4), () => ({ add: 1 }));
    project(4);
    expect((await updates.next()).value.total).toBe(4);
    expect(domain.loads - before).toBe(3);
    feed.close();
  });
});
