/**
 * Live movies for this gateway's subscribers, fed by its own consumer of `movies` and `rated-movies`. Changes
 * are coalesced: one loop waits until the projection has applied the newest position seen, then reads each
 * watched movie and each watched leaderboard once and sends what changed. A burst of a thousand ratings costs
 * one read per watched movie, never a stale state last: the loop runs again while changes keep arriving.
 */
import { createLiveQueue, type GatewayServices, type LiveQueue } from '../../shared/graphql/index.ts';
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

/**
 * The subscribers of one movie or one leaderboard: all were sent the state printed `last`, except the `fresh`
 * ones, which joined since and wait for their first. A change goes to all; an unchanged state only to those.
 */
interface Watchers<T> {
  subscribers: Set<LiveQueue<T>>;
  fresh: Set<LiveQueue<T>>;
  last?: string;
}
const watchers = <T>(): Watchers<T> => ({ subscribers: new Set(), fresh: new Set() });

const fingerprint = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

export function createMoviesLive(services: GatewayServices, log: Logger): MoviesLive {
  const movies = new Map<string, Watchers<Movie>>();
  const boards = new Map<string, Watchers<Movie[]> & { limit: number; minRatings: number }>();
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
          // A board is a prefix of the longest one with its minRatings (the order is total): one read for them all.
          const longest = new Map<number, number>();
          for (const { minRatings, limit } of boards.values()) longest.set(minRatings, Math.max(limit, longest.get(minRatings) ?? 0));
          const tops = new Map(await Promise.all([...longest].map(async ([minRatings, limit]) => [minRatings, await topRated(services.prisma, limit, minRatings)] as const)));
          for (const board of boards.values()) send(board, tops.get(board.minRatings)!.slice(0, board.limit));
        }
      }
    } catch (error) {
      log.warn(`could not push a movie update: ${(error as Error).message}`);
    } finally {
      flushing = false;
    }
  }

  function send<T>(watched: Watchers<T> | undefined, value: T) {
    if (!watched) return;
    const print = fingerprint(value);
    for (const s of print === watched.last ? watched.fresh : watched.subscribers) s.push(value);
    watched.last = print;
    watched.fresh.clear();
  }

  return {
    movie(id) {
      const key = id.toString();
      const watched = movies.get(key) ?? watchers<Movie>();
      movies.set(key, watched);
      const s = createLiveQueue<Movie>(() => {
        watched.subscribers.delete(s);
        watched.fresh.delete(s);
        if (!watched.subscribers.size && movies.get(key) === watched) movies.delete(key);
      });
      watched.subscribers.add(s);
      watched.fresh.add(s);
      // Its first state comes through the same loop as every change, so it is never sent after a newer one.
      dirtyMovies.add(key);
      void flush();
      return s.iterator;
    },

    leaderboard(limit, minRatings) {
      const key = `${limit}:${minRatings}`;
      const board = boards.get(key) ?? { ...watchers<Movie[]>(), limit, minRatings };
      boards.set(key, board);
      const s = createLiveQueue<Movie[]>(() => {
        board.subscribers.delete(s);
        board.fresh.delete(s);
        if (!board.subscribers.size && boards.get(key) === board) boards.delete(key);
      });
      board.subscribers.add(s);
      board.fresh.add(s);
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
      for (const watched of movies.values()) for (const s of [...watched.subscribers]) s.close();
      for (const board of boards.values()) for (const s of [...board.subscribers]) s.close();
    },
  };
}
