/**
 * Live movies for this gateway's subscribers, fed by its own consumer of `movies` and `rated-movies`. Changes
 * are coalesced: one loop waits until the projection has applied the newest position seen, then reads each
 * watched movie and each watched leaderboard once and sends what changed. A burst of a thousand ratings costs
 * one read per watched movie, never a stale state last: the loop runs again while changes keep arriving.
 */
import type { GatewayServices } from '../../../gateway/context.ts';
import { createLiveQueue, type LiveQueue } from '../../../gateway/live-queue.ts';
import type { Movie } from '../../../generated/prisma/client.ts';
import type { Logger } from '../../shared/log.ts';
import type { LogPosition, RawMessage } from '../../shared/messages.ts';
import { ratingsContract } from '../contract.ts';
import { topRated } from './context.ts';

export interface MoviesLive {
  /** The movie now (once it exists), then each change of it. */
  movie(id: bigint): AsyncIterableIterator<Movie>;
  /** The leaderboard now, then each time it changes. */
  leaderboard(limit: number, minRatings: number): AsyncIterableIterator<Movie[]>;
  onMessage(topic: string, message: RawMessage, position: LogPosition): void;
  close(): void;
}

const PROJECTION_WAIT_MS = 30_000;

/** A subscriber, and what it was sent last, to send only changes. */
type Subscriber<T> = LiveQueue<T> & { last?: string };

const fingerprint = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

export function createMoviesLive(services: GatewayServices, log: Logger): MoviesLive {
  const movies = new Map<string, Set<Subscriber<Movie>>>();
  const boards = new Map<string, { limit: number; minRatings: number; subscribers: Set<Subscriber<Movie[]>> }>();
  const pending = new Map<string, LogPosition>(); // the newest position per topic partition
  const dirtyMovies = new Set<string>();
  let dirtyBoards = false;
  let flushing = false;

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      while (pending.size || dirtyMovies.size || dirtyBoards) {
        const positions = [...pending.values()];
        pending.clear();
        const ids = [...dirtyMovies];
        dirtyMovies.clear();
        const refreshBoards = dirtyBoards;
        dirtyBoards = false;
        await Promise.all(positions.map((p) => services.watcher.reached(services.projectorsOf(p.topic), p, PROJECTION_WAIT_MS)));
        const watched = ids.filter((id) => movies.has(id));
        if (watched.length) {
          const rows = await services.prisma.movie.findMany({ where: { id: { in: watched.map(BigInt) }, removed: false } });
          for (const row of rows) send(movies.get(row.id.toString()), row);
        }
        if (refreshBoards) {
          for (const board of boards.values()) send(board.subscribers, await topRated(services.prisma, board.limit, board.minRatings));
        }
      }
    } catch (error) {
      log.warn(`could not push a movie update: ${(error as Error).message}`);
    } finally {
      flushing = false;
    }
  }

  function send<T>(subscribers: Set<Subscriber<T>> | undefined, value: T) {
    const print = fingerprint(value);
    for (const s of subscribers ?? []) {
      if (s.last === print) continue;
      s.last = print;
      s.push(value);
    }
  }

  return {
    movie(id) {
      const key = id.toString();
      const subscribers = movies.get(key) ?? new Set();
      movies.set(key, subscribers);
      const s: Subscriber<Movie> = createLiveQueue<Movie>(() => {
        subscribers.delete(s);
        if (!subscribers.size) movies.delete(key);
      });
      subscribers.add(s);
      // Its first state comes through the same loop as every change, so it is never sent after a newer one.
      dirtyMovies.add(key);
      void flush();
      return s.iterator;
    },

    leaderboard(limit, minRatings) {
      const key = `${limit}:${minRatings}`;
      const board = boards.get(key) ?? { limit, minRatings, subscribers: new Set() };
      boards.set(key, board);
      const s: Subscriber<Movie[]> = createLiveQueue<Movie[]>(() => {
        board.subscribers.delete(s);
        if (!board.subscribers.size) boards.delete(key);
      });
      board.subscribers.add(s);
      dirtyBoards = true;
      void flush();
      return s.iterator;
    },

    onMessage(topic, message, position) {
      let event;
      try {
        event = ratingsContract.read(topic, message);
      } catch {
        return; // the runtime dead-letters it; a subscriber has nothing to see
      }
      if (!event || event.kind !== 'event') return;
      pending.set(`${position.topic}:${position.partition}`, position);
      if (movies.has(event.data.movieId)) dirtyMovies.add(event.data.movieId);
      if (boards.size) dirtyBoards = true;
      void flush();
    },

    close() {
      for (const set of movies.values()) for (const s of [...set]) s.close();
      for (const board of boards.values()) for (const s of [...board.subscribers]) s.close();
    },
  };
}
