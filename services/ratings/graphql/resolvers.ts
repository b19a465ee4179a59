/**
 * The ratings resolvers, typed from schema.graphql by codegen. `rateMovie` only sends a command; queries read
 * the movies projection; subscriptions follow the live feed.
 */
import { actorOf } from '../../shared/graphql/index.ts';
import { SystemError } from '../../shared/errors.ts';
import { historyPage } from '../../shared/event-index.ts';
import { ratingsContract, TOPICS } from '../contract.ts';
import { averageOf } from '../rating.ts';
import { parseMovieId, topRated } from './context.ts';
import type { Resolvers } from './generated.ts';
import { ratingsPolicy as policy } from './policy.ts';

const PAGE_DEFAULT = 20;

// Cursors are opaque to clients: base64url of the movie id, the sort key.
const encodeCursor = (id: bigint) => Buffer.from(id.toString()).toString('base64url');
function decodeCursor(cursor: string): bigint {
  const id = parseMovieId(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (id === undefined) throw new SystemError('BAD_USER_INPUT', `invalid cursor "${cursor}": pass an endCursor returned by a previous page`);
  return id;
}

/** `%`, `_` and `\` in a search are letters: Prisma's `contains` is a LIKE and does not escape them. */
const literal = (search: string) => search.replace(/[\\%_]/g, (c) => `\\${c}`);

export const resolvers: Resolvers = {
  Query: {
    movie(_, { id }, { viewer, ratings }) {
      policy.readCatalog(viewer);
      const movieId = parseMovieId(id);
      return movieId === undefined ? null : ratings.moviesById.load(movieId);
    },

    async movies(_, { search, first, after }, { viewer, prisma }) {
      policy.readCatalog(viewer);
      const take = first ?? PAGE_DEFAULT; // bounded by @limit in schema.graphql
      const rows = await prisma.movie.findMany({
        where: {
          removed: false,
          ...(search ? { title: { contains: literal(search), mode: 'insensitive' as const } } : {}),
          ...(after != null ? { id: { gt: decodeCursor(after) } } : {}),
        },
        orderBy: { id: 'asc' },
        take: take + 1,
      });
      const edges = rows.slice(0, take).map((node) => ({ cursor: encodeCursor(node.id), node }));
      return { edges, pageInfo: { hasNextPage: rows.length > take, endCursor: edges.at(-1)?.cursor ?? null } };
    },

    topRatedMovies(_, { limit, minRatings }, { viewer, prisma }) {
      policy.readCatalog(viewer);
      return topRated(prisma, limit ?? 10, minRatings ?? 1);
    },
  },

  Mutation: {
    async rateMovie(_, { movieId, rating }, { viewer, commands, ratings, commandTimeoutMs }) {
      const user = policy.rateMovie(viewer);
      const id = parseMovieId(movieId);
      if (id === undefined) throw new SystemError('NOT_FOUND', `no movie with id "${movieId}": movie ids are the catalog's numbers`);
      // The ratings service decides (NOT_FOUND for a movie it does not know); the answer comes once projected.
      await commands.execute(ratingsContract.outgoing(ratingsContract.command({ type: 'RateMovie', data: { movieId: id.toString(), rating } }, { actor: actorOf(user) })), commandTimeoutMs);
      const movie = await ratings.moviesById.load(id);
      if (!movie) throw new SystemError('NOT_FOUND', `movie ${movieId} left the catalog meanwhile`);
      return movie;
    },
  },

  Subscription: {
    movieRatingChanged: {
      subscribe(_, { movieId }, { viewer, ratings }) {
        policy.readCatalog(viewer);
        const id = parseMovieId(movieId);
        if (id === undefined) throw new SystemError('NOT_FOUND', `no movie with id "${movieId}": movie ids are the catalog's numbers`);
        return ratings.live.movie(id);
      },
      resolve: (movie: unknown) => movie as never,
    },
    topRatedMoviesChanged: {
      subscribe(_, { limit, minRatings }, { viewer, ratings }) {
        policy.readCatalog(viewer);
        return ratings.live.leaderboard(limit ?? 10, minRatings ?? 1);
      },
      resolve: (board: unknown) => board as never,
    },
  },

  Movie: {
    id: (movie) => movie.id.toString(),
    genres: (movie) => movie.genres ?? [],
    rating: (movie) =>
      // One division (rating.ts): sum / count / 10 rounds twice and can miss the exact average by an ulp (0.5 / 3).
      movie.ratingCount > 0 ? { count: movie.ratingCount, average: averageOf({ count: movie.ratingCount, sumTenths: Number(movie.ratingSumTenths) }) } : null,
    // Public, as the movie is: its catalog changes (captured, so no actor) and its rating totals.
    history: (movie, { first, after }, { ratings }) =>
      historyPage(ratings.events, { aggregateId: movie.id.toString(), topics: MOVIE_STREAM_TOPICS }, first ?? 20, after),
  },
};

/** The topics of a movie's events: its catalog changes and its rating totals. */
const MOVIE_STREAM_TOPICS = [TOPICS.movies, TOPICS.ratedMovies];

