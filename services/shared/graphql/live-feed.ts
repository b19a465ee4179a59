/**
 * The engine of a domain's live feed: one entity per key (an order, a movie), fed by the gateway's own consumer of
 * the domain's topics. It knows no domain: the domain gives how to load an entity's state, how to fold one more
 * event into it (pure) and, to resume, how to read the states since a cursor. What it guarantees:
 * - pushes of one key keep log order (one promise chain per key);
 * - a change is pushed once the projections have applied its event, so what a subscriber sees, a query sees too;
 * - a subscriber that arrives after an event was consumed but before it was projected waits for it (the newest
 *   position seen per key is remembered, for keys nobody watches yet too);
 * - a subscriber is never sent a state that is not newer than the last it got (`isNewer`);
 * - a latest-wins value (a position: `conflates`) is pushed without waiting for the projection, and a subscriber
 *   that has not taken the previous one gets only the newest;
 * - with a cursor, a subscriber gets each state since it first, and live pushes skip it until then (by the time
 *   one runs, the index has it).
 *
 * Public surface: `createLiveFeed`, `LiveFeed`, `LiveFeedDomain`, `FeedUpdate`, `FeedPosition`, `cursorOfUpdate`.
 */
import { cursorOf, type EventPosition } from '../event-index.ts';
import type { Logger } from '../log.ts';
import type { LogPosition } from '../messages.ts';
import { createLiveQueue } from './live-queue.ts';
import type { ProjectionWatcher } from './slice.ts';

/** A message's place in the log, with the logical topic it was read as (a cursor names that one). */
export type FeedPosition = LogPosition & { logicalTopic: string };

/** One event of a key, as consumed. */
export interface FeedUpdate<E> {
  key: string;
  event: E;
  position: FeedPosition;
}

/** The cursor of a consumed event: its position in its entity's history, as the event index has it. */
export const cursorOfUpdate = ({ key, event, position }: FeedUpdate<{ occurredAt: string }>): string =>
  cursorOf({ aggregateId: key, occurredAt: new Date(event.occurredAt), topic: position.logicalTopic, partition: position.partition, offset: position.offset });

export interface LiveFeedDomain<S, E> {
  /**
   * What the projections show of the key now, or null while it does not exist. With `at`, the state right after
   * that event when the domain can tell it (the first event of a key watched before it existed).
   */
  load(key: string, at?: FeedUpdate<E>): Promise<S | null>;
  /**
   * The state after one more event, pure; null when the event alone does not tell it (the first event of a key
   * watched before it existed, other than its creation): then it is loaded. Without a fold, every change is loaded again once projected, and changes that come while a load
   * waits to run join it: a burst costs one read.
   */
  fold?(state: S | null, update: FeedUpdate<E>): S | null;
  /**
   * Whether the event is a latest-wins value (a position): folded in without waiting for the projection (a key not
   * loaded yet still waits), and a subscriber that has not taken the previous such value gets only the newest.
   */
  conflates?(event: E): boolean;
  /** Whether a subscriber that was sent `last` should be sent `next`: never a state twice, never one going back. */
  isNewer(next: S, last: S): boolean;
  /**
   * Whether each state is the entity whole (an order): a state whose key has a later change waiting already (its
   * projection lags) is not pushed, and a subscriber whose previous state is not written yet gets the newest instead
   * (the fan-out's conflation); in order, the last always. States read to resume are each sent.
   */
  latestStateWins?: boolean;
  /** The states after `after`, oldest first, read from the event index (resume). */
  statesSince?(key: string, after: EventPosition): Promise<S[]>;
  /**
   * The other entity whose events may change this state (a ride's driver while under way), if any: `onRelatedEvent`
   * offers that entity's events to it. Kept as an index, so an event costs a lookup, not a scan of every watched key.
   */
  relatedKey?(state: S): string | undefined;
}

export interface LiveFeed<S, E> {
  /** The key's state now (once it exists), then each change. With `after`, each state since it instead, then the changes. */
  updates(key: string, after?: EventPosition): AsyncIterableIterator<S>;
  /** The first of those states that satisfies `until`, or undefined after `timeoutMs`. */
  first(key: string, until: (state: S) => boolean, timeoutMs: number): Promise<S | undefined>;
  /** Every message of the followed topics, by its key: `read` (decoding it; undefined: not this key's event) runs only for a watched key. */
  onMessage(key: string, position: FeedPosition, read: () => E | undefined): void;
  /**
   * An event of another entity that may change watched ones (a driver's position, to the rides it is on): folded
   * into each watched key whose state names `relatedKey` (`LiveFeedDomain.relatedKey`); `read` runs only when one
   * does. Not remembered: no first read of these keys waits for it.
   */
  onRelatedEvent(relatedKey: string, position: FeedPosition, read: () => E | undefined): void;
  close(): void;
}

export interface LiveFeedOptions {
  watcher: ProjectionWatcher;
  /** The projectors that must apply a physical topic's message before queries see it. */
  projectorsOf(topic: string): string[];
  log: Logger;
  /** What a key names, for log lines ("order", "movie"). */
  entity: string;
  /**
   * Where the log of the feed's topics ends now (`GatewayServices.logEnd`): a resume first waits until the
   * projections reach it, since what was written before this gateway started is in no position it remembers.
   */
  logEnd?(): Promise<LogPosition[]>;
}

/** Keys whose newest positions are remembered while nobody watches them. */
const RECENT_KEYS = 50_000;
const PROJECTION_WAIT_MS = 30_000;

interface Listener<S> {
  push(state: S, conflatable?: boolean): void;
  /** Catching up from the event index: live pushes skip it meanwhile. */
  resuming: boolean;
}

/**
 * A watched key: who listens, who still waits for a first state, its state as of the last event (set it with
 * `settle`, which keeps the related index), the related key that state names, and whether a load is queued.
 */
interface Watched<S> {
  listeners: Set<Listener<S>>;
  waiting: Set<Listener<S>>;
  current: S | null;
  related?: string;
  loadQueued: boolean;
  /** Changes enqueued and not folded yet. */
  folding: number;
}

export function createLiveFeed<S, E>(domain: LiveFeedDomain<S, E>, options: LiveFeedOptions): LiveFeed<S, E> {
  const { watcher, projectorsOf, log, entity, logEnd } = options;
  const watched = new Map<string, Watched<S>>();
  const chains = new Map<string, Promise<void>>();
  const closers = new Set<() => void>();
  // The newest position seen per key and topic, kept for keys nobody watches yet too (an LRU).
  const recent = new Map<string, Map<string, LogPosition>>();
  // The watched keys whose state names each related key (`relatedKey`).
  const byRelated = new Map<string, Set<string>>();

  function relate(key: string, entry: Watched<S>, related: string | undefined) {
    if (entry.related === related) return;
    if (entry.related !== undefined) {
      const keys = byRelated.get(entry.related)!;
      keys.delete(key);
      if (!keys.size) byRelated.delete(entry.related);
    }
    entry.related = related;
    if (related !== undefined) byRelated.set(related, (byRelated.get(related) ?? new Set()).add(key));
  }

  /** The key's state from now on. */
  function settle(key: string, entry: Watched<S>, state: S | null) {
    entry.current = state;
    if (domain.relatedKey) relate(key, entry, state ? domain.relatedKey(state) : undefined);
  }

  const reached = (position: LogPosition) => watcher.reached(projectorsOf(position.topic), position, PROJECTION_WAIT_MS);

  function remember(key: string, position: LogPosition) {
    const positions = recent.get(key) ?? new Map<string, LogPosition>();
    recent.delete(key);
    recent.set(key, positions.set(position.topic, position));
    if (recent.size > RECENT_KEYS) recent.delete(recent.keys().next().value!);
  }

  /** Once every event of the key this gateway has consumed is projected: reads after it miss none. */
  const seenProjected = (key: string) => Promise.all([...(recent.get(key)?.values() ?? [])].map(reached));
  /** Once everything written so far is projected, whether this gateway consumed it or not. */
  const allProjected = async () => void (await Promise.all((await logEnd?.() ?? []).map(reached)));

  function enqueue(key: string, work: () => Promise<void>) {
    const next = (chains.get(key) ?? Promise.resolve())
      .then(work)
      .catch((error: Error) => log.warn(`could not push an update of ${entity} ${key}: ${error.message}`));
    chains.set(key, next);
    void next.then(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  }

  function pushLive(entry: Watched<S>, conflatable = false) {
    const latestWins = conflatable || (domain.latestStateWins ?? false);
    if (entry.current) for (const listener of entry.listeners) if (!listener.resuming) listener.push(entry.current, latestWins);
  }

  function onChange(entry: Watched<S>, update: FeedUpdate<E>) {
    const { fold } = domain;
    if (!fold) {
      if (entry.loadQueued) return; // it waits for this position too
      entry.loadQueued = true;
      return enqueue(update.key, async () => {
        entry.loadQueued = false;
        await seenProjected(update.key);
        settle(update.key, entry, await domain.load(update.key));
        pushLive(entry);
      });
    }
    const conflatable = domain.conflates?.(update.event) ?? false;
    entry.folding += 1;
    enqueue(update.key, async () => {
      try {
        if (!conflatable) await reached(update.position);
      } finally {
        entry.folding -= 1;
      }
      // A key watched before it existed: its state right after this event, not whatever the projection shows by
      // now (later events may be projected already, and each must reach the listeners).
      let next = fold(entry.current, update);
      if (!next) {
        await seenProjected(update.key);
        next = await domain.load(update.key, update);
      }
      settle(update.key, entry, next);
      // Superseded already: the later change pushes the newer whole state (under load, one frame instead of five).
      if (domain.latestStateWins && entry.folding > 0) return;
      pushLive(entry, conflatable);
    });
  }

  const feed: LiveFeed<S, E> = {
    onMessage(key, position, read) {
      remember(key, position);
      const entry = watched.get(key);
      if (!entry) return;
      const event = read();
      if (event !== undefined) onChange(entry, { key, event, position });
    },

    onRelatedEvent(relatedKey, position, read) {
      const keys = byRelated.get(relatedKey);
      const event = keys && read();
      if (event !== undefined) for (const key of keys!) onChange(watched.get(key)!, { key, event, position });
    },

    updates(key, after) {
      let last: S | undefined;
      const entry = watched.get(key) ?? { listeners: new Set(), waiting: new Set(), current: null, loadQueued: false, folding: 0 };
      watched.set(key, entry);
      const queue = createLiveQueue<S>(() => {
        entry.listeners.delete(listener);
        entry.waiting.delete(listener);
        if (!entry.listeners.size && watched.get(key) === entry) {
          watched.delete(key);
          relate(key, entry, undefined);
        }
        closers.delete(queue.close);
      });
      const { statesSince } = domain;
      const listener: Listener<S> = {
        resuming: after !== undefined && statesSince !== undefined,
        push(state, conflatable) {
          if (last !== undefined && !domain.isNewer(state, last)) return;
          last = state;
          queue.push(state, conflatable);
        },
      };
      entry.listeners.add(listener);
      closers.add(queue.close);
      if (after && statesSince) {
        // Listening first, then reading the states since `after`: a change that comes meanwhile is in the index by
        // the time its live push would reach this listener, which takes it from there on.
        enqueue(key, async () => {
          await Promise.all([seenProjected(key), allProjected()]);
          const states = await statesSince(key, after).catch((error: Error) => {
            queue.close();
            throw error;
          });
          for (const state of states) listener.push(state);
          listener.resuming = false;
          if (!entry.current) settle(key, entry, states.at(-1) ?? null); // live changes fold onto it
        });
        return queue.iterator;
      }
      // Listening first, then reading, so no change falls between the two. Listeners that arrive together share
      // one read, and none is needed once the key's events are being folded in.
      entry.waiting.add(listener);
      if (entry.waiting.size === 1) {
        enqueue(key, async () => {
          const waiting = [...entry.waiting];
          entry.waiting.clear();
          if (!entry.current) {
            await seenProjected(key);
            settle(key, entry, await domain.load(key));
          }
          if (entry.current) for (const l of waiting) l.push(entry.current);
        });
      }
      return queue.iterator;
    },

    async first(key, until, timeoutMs) {
      const updates = feed.updates(key);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      try {
        for (;;) {
          const next = await Promise.race([updates.next(), timedOut]);
          if (next === 'timeout' || next.done) return undefined;
          if (until(next.value)) return next.value;
        }
      } finally {
        clearTimeout(timer);
        await updates.return?.();
      }
    },

    close() {
      for (const close of [...closers]) close();
    },
  };
  return feed;
}
