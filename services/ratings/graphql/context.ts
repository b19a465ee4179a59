/** The ratings slice's per-operation context: a DataLoader over the movies projection, and the live feeds. */
import DataLoader from 'dataloader';
import type { GatewayServices, ViewerContext } from '../../shared/graphql/index.ts';
import type { Movie } from '../../../generated/prisma/client.ts';
import type { PrismaClient } from '../../shared/db.ts';
import type { MoviesLive } from './live.ts';
import type { EventIndexReader } from '../../shared/event-index.ts';

export interface RatingsContext {
  moviesById: DataLoader<bigint, Movie | null, string>;
  /** The movies' histories in the runtime's event index. */
  events: EventIndexReader;
  live: MoviesLive;
}

/** What the ratings resolvers receive (the type codegen uses for them). */
export type Context = GatewayServices & ViewerContext & { ratings: RatingsContext };

/** A movie id as the legacy table has it (bigint), or undefined for a string that cannot be one. */
export function parseMovieId(id: string): bigint | undefined {
  if (!/^-?\d{1,19}$/.test(id)) return undefined;
  const value = BigInt(id);
  return value >= -(2n ** 63n) && value < 2n ** 63n ? value : undefined;
}

export function createMovieLoader(prisma: PrismaClient) {
  return new DataLoader<bigint, Movie | null, string>(async (ids) => {
    const rows = await prisma.movie.findMany({ where: { id: { in: [...ids] }, removed: false } });
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }, { cacheKeyFn: (id) => id.toString() });
}

/** The leaderboard, ordered exactly: average (integer tenths over count, as numeric) desc, count desc, id asc. */
export function topRated(prisma: PrismaClient, limit: number, minRatings: number): Promise<Movie[]> {
  return prisma.$queryRaw<Movie[]>`
    SELECT id, title, release_year AS "releaseYear", country, genres, removed, rating_count AS "ratingCount",
           rating_sum_tenths AS "ratingSumTenths", updated_at AS "updatedAt"
    FROM movies
    WHERE NOT removed AND rating_count >= ${minRatings}
    ORDER BY rating_sum_tenths::numeric / rating_count DESC, rating_count DESC, id ASC
    LIMIT ${limit}`;
}
