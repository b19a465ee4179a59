/**
 * The ratings service's decisions: count a rating of a known movie exactly, and write the rated movie back
 * whenever its rating or its catalog entry changes.
 */
import { SystemError } from '../../shared/errors.ts';
import type { DomainEvent, Envelope } from '../contract.ts';
import { addRating, averageOf, InvalidRating, toTenths, type RatingTotals } from '../rating.ts';
import type { CatalogEntry, RatedMovie } from './evolve.ts';

function rated(movieId: string, movie: CatalogEntry, totals: RatingTotals): DomainEvent {
  return {
    type: 'RatedMovieChanged',
    data: {
      movieId,
      title: movie.title,
      releaseYear: movie.releaseYear,
      count: totals.count,
      sumTenths: totals.sumTenths,
      sum: totals.sumTenths / 10,
      average: averageOf(totals),
    },
  };
}

export function decide(input: Envelope, state: RatedMovie, _now: Date): DomainEvent[] {
  switch (input.type) {
    case 'RateMovie': {
      const { movieId, rating } = input.data;
      if (!state.movie) {
        throw new SystemError('NOT_FOUND', `no movie with id ${movieId} in the catalog${state.movie === null ? ' (it was removed)' : ''}: rate a movie that exists`);
      }
      let tenths: number;
      try {
        tenths = toTenths(rating);
      } catch (error) {
        if (error instanceof InvalidRating) throw new SystemError('BAD_USER_INPUT', error.message);
        throw error;
      }
      return [rated(movieId, state.movie, addRating(state.totals, tenths))];
    }
    // `state` already includes the catalog change: the runtime folds input events of a state topic first.
    case 'MovieUpserted':
      return state.movie && state.totals.count > 0 ? [rated(input.data.movieId, state.movie, state.totals)] : [];
    case 'MovieRemoved':
      return state.totals.count > 0 ? [{ type: 'RatedMovieRemoved', data: { movieId: input.data.movieId } }] : [];
    default:
      return [];
  }
}
