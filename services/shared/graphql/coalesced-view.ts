/**
 * The engine of a live feed that is a query over many entities (a map's box, a leaderboard) rather than one entity
 * (that is `live-feed.ts`). Consumed messages only note what they changed (`changed`): the keys, and where they stand
 * in the log. One loop then waits until the projections have applied the newest position noted, and `refresh`
 * reads what changed once, for every subscriber. Changes that come meanwhile join the next refresh, so a burst of a
 * thousand events costs one read, and what a subscriber is sent, a query shows too.
 *
 * A refresh that fails (the database away) is tried again with its keys after `delayMs`: no change is dropped.
 *
 * Public surface: `createCoalescedView`, `CoalescedView`, `CoalescedViewOptions`.
 */
import type { Logger } from '../log.ts';
import type { LogPosition } from '../messages.ts';
import type { ProjectionWatcher } from './slice.ts';

export interface CoalescedView<K> {
  /** A message at `position` changed `keys` (none: the view as a whole, e.g. a new subscriber wants its first state). */
  changed(position: LogPosition | undefined, ...keys: K[]): void;
  close(): void;
}

export interface CoalescedViewOptions<K> {
  watcher: ProjectionWatcher;
  /** The projectors that must apply a physical topic's message before queries see it. */
  projectorsOf(topic: string): string[];
  log: Logger;
  /** What the view is, for log lines ("the city maps"). */
  what: string;
  /** How long changes gather before a refresh (0: the next refresh starts as soon as the previous one ends). */
  delayMs: number;
  /** Reads what `keys` changed, projected, and sends it; `keys` is empty when only the view as a whole was marked. */
  refresh(keys: ReadonlySet<K>): Promise<void>;
}

const PROJECTION_WAIT_MS = 30_000;

export function createCoalescedView<K>(options: CoalescedViewOptions<K>): CoalescedView<K> {
  const { watcher, projectorsOf, log, what, delayMs, refresh } = options;
  const positions = new Map<string, LogPosition>(); // the newest noted per topic partition
  let keys = new Set<K>();
  let marked = false;
  let running = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  function note(position: LogPosition | undefined, changed: readonly K[]) {
    if (position) {
      const partition = `${position.topic}:${position.partition}`;
      const known = positions.get(partition);
      if (!known || BigInt(known.offset) < BigInt(position.offset)) positions.set(partition, position);
    }
    for (const key of changed) keys.add(key);
    marked = true;
  }

  async function run() {
    if (running || closed) return;
    running = true;
    try {
      while (marked && !closed) {
        const waiting = [...positions.values()];
        const changed = keys;
        positions.clear();
        keys = new Set();
        marked = false;
        try {
          await Promise.all(waiting.map((p) => watcher.reached(projectorsOf(p.topic), p, PROJECTION_WAIT_MS)));
          await refresh(changed);
        } catch (error) {
          log.warn(`could not update ${what}, trying again in ${Math.max(delayMs, 100)} ms: ${(error as Error).message}`);
          for (const position of waiting) note(position, []);
          note(undefined, [...changed]);
          return schedule(Math.max(delayMs, 100));
        }
      }
    } finally {
      running = false;
    }
  }

  function schedule(ms: number) {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      // Changes noted while a refresh ran start the next one when it ends (the loop), or here after it.
      void run().then(() => (marked ? schedule(delayMs) : undefined));
    }, ms);
  }

  return {
    changed(position, ...changed) {
      note(position, changed);
      if (delayMs > 0) schedule(delayMs);
      else void run();
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
