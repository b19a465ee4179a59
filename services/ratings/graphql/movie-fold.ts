/**
 * A movie's state folded from its events, pure: what the movies projection (../projections/movies.ts) makes of them,
 * row for row. The live feed folds each change with it instead of reading the movie again; test/ratings-fold.int
 * checks it against the projection on random histories.
 */
import type { Movie } from '../../../generated/prisma/client.ts';
import type { EventEnvelope } from '../contract.ts';

const later = (a: Date, b: string) => (a.getTime() >= Date.parse(b) ? a : new Date(b));

/** The movie after one more event (in time order); null while it has none. */
export function foldMovie(movie: Movie | null, event: EventEnvelope): Movie | null {
  const at = event.occurredAt;
  switch (event.type) {
    case 'MovieUpserted': {
      const { movieId, title, releaseYear, country, genres } = event.data;
      const catalog = { title, releaseYear, country, genres, removed: false };
      return movie
        ? { ...movie, ...catalog, updatedAt: later(movie.updatedAt, at) }
        : { id: BigInt(movieId), ...catalog, ratingCount: 0, ratingSumTenths: 0n, updatedAt: new Date(at) };
    }
    case 'MovieRemoved':
      return movie
        ? { ...movie, removed: true, updatedAt: later(movie.updatedAt, at) }
        : { id: BigInt(event.data.movieId), title: '', releaseYear: null, country: null, genres: [], removed: true, ratingCount: 0, ratingSumTenths: 0n, updatedAt: new Date(at) };
    case 'RatedMovieChanged': {
      // Totals only: the catalog's fields are the catalog's, except for a movie rated before the catalog was read.
      const { movieId, title, releaseYear, count, sumTenths } = event.data;
      const totals = { ratingCount: count, ratingSumTenths: BigInt(sumTenths) };
      return movie
        ? { ...movie, ...totals, updatedAt: later(movie.updatedAt, at) }
        : { id: BigInt(movieId), title, releaseYear, country: null, genres: [], removed: false, ...totals, updatedAt: new Date(at) };
    }
    case 'RatedMovieRemoved':
      return movie; // the catalog's removal hides the movie
    default:
      return event satisfies never;
  }
}
