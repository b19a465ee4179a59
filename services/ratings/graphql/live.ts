/**
 * Live movies for this gateway's subscribers, fed by its own consumer of `movies` and `rated-movies`. A watched
 * movie is read once; then each change is folded in (./movie-fold.ts, the projection's fold) once the projection
 * has applied it, so a burst of ratings costs no read, and a subscriber that has not taken the previous state gets
 * the newest. The leaderboards are one coalesced view (the engine of feeds over many entities): once the newest
 * position seen is projected, each is read once, again while changes keep arriving, never a stale state last. Only
 * what changed is sent.
 */
import { createCoalescedView, createLiveFeed, createLiveQueue, type GatewayServices, type LiveQueue } from '../../shared/graphql/index.ts';
import DataLoader from 'dataloader';
import type { Movie } from '../../../generated/prisma/client.ts';
import type { Logger } from '../../shared/log.ts';
import type { LogPosition, RawMessage } from '../../shared/messages.ts';
import { ratingsContract, type EventEnvelope } from '../contract.ts';
import { topRated } from './context.ts';
import { foldMovie } from './movie-fold.ts';

export interface MoviesLive {
  /** The movie now (once it exists), then each change of it. */
  movie(id: bigint): AsyncIterableIterator<Movie>;
  /** The leaderboard now, then each time it changes. */
  leaderboard(limit: number, minRatings: number): AsyncIterableIterator<Movie[]>;
  onMessage(topic: string, message: RawMessage, position: LogPosition): void;
  close(): void;
}

/**
 * The subscribers of one leaderboard: all were sent the board printed `last`, except the `fresh` ones, which joined
 * since and wait for their first. A change goes to all; an unchanged board only to those.
 */
interface Watchers<T> {
  subscribers: Set<LiveQueue<T>>;
  fresh: Set<LiveQueue<T>>;
  last?: string;
}

const fingerprint = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

export function createMoviesLive(services: GatewayServices, log: Logger): MoviesLive {
  // Movies read in one tick (a burst touching many watched movies) are one read; never cached.
  const rows = new DataLoader<string, Movie | null>(
    async (ids) => {
      const found = await services.prisma.movie.findMany({ where: { id: { in: ids.map(BigInt) }, removed: false } });
      const byId = new Map(found.map((movie) => [movie.id.toString(), movie]));
      return ids.map((id) => byId.get(id) ?? null);
    },
    { cache: false },
  );
  const prints = new WeakMap<Movie, string>();
  const printOf = (movie: Movie) => prints.get(movie) ?? prints.set(movie, fingerprint(movie)).get(movie)!;
  const movies = createLiveFeed<Movie, EventEnvelope>(
    {
      load: (id) => rows.load(id),
      // Folded as the projection folds it. A movie not shown (never read, or removed) is read again instead: its
      // row may hold totals from before.
      fold(movie, { event }) {
        const next = movie && foldMovie(movie, event);
        return next && !next.removed ? next : null;
      },
      isNewer: (next, last) => printOf(next) !== printOf(last),
      latestStateWins: true,
    },
    { watcher: services.watcher, projectorsOf: services.projectorsOf, log, entity: 'movie' },
  );
  const boards = new Map<string, Watchers<Movie[]> & { limit: number; minRatings: number }>();
  const leaderboards = createCoalescedView<never>({
    watcher: services.watcher, projectorsOf: services.projectorsOf, log, what: 'the leaderboards', delayMs: 0,
    async refresh() {
      // A board is a prefix of the longest one with its minRatings (the order is total): one read for them all.
      const longest = new Map<number, number>();
      for (const { minRatings, limit } of boards.values()) longest.set(minRatings, Math.max(limit, longest.get(minRatings) ?? 0));
      const tops = new Map(await Promise.all([...longest].map(async ([minRatings, limit]) => [minRatings, await topRated(services.prisma, limit, minRatings)] as const)));
      for (const board of boards.values()) send(board, tops.get(board.minRatings)!.slice(0, board.limit));
    },
  });

  function send<T>(watched: Watchers<T>, value: T) {
    const print = fingerprint(value);
    for (const s of print === watched.last ? watched.fresh : watched.subscribers) s.push(value);
    watched.last = print;
    watched.fresh.clear();
  }

  return {
    movie: (id) => movies.updates(id.toString()),

    leaderboard(limit, minRatings) {
      const key = `${limit}:${minRatings}`;
      const board = boards.get(key) ?? { subscribers: new Set(), fresh: new Set(), limit, minRatings };
      boards.set(key, board);
      const s = createLiveQueue<Movie[]>(() => {
        board.subscribers.delete(s);
        board.fresh.delete(s);
        if (!board.subscribers.size && boards.get(key) === board) boards.delete(key);
      });
      board.subscribers.add(s);
      board.fresh.add(s);
      leaderboards.changed(undefined);
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
      movies.onMessage(event.data.movieId, { ...position, logicalTopic: topic }, () => event);
      // Noted with no board watched too: a board subscribed next is read once this gateway's events are projected.
      leaderboards.changed(position);
    },

    close() {
      movies.close();
      leaderboards.close();
      for (const board of boards.values()) for (const s of [...board.subscribers]) s.close();
    },
  };
}
