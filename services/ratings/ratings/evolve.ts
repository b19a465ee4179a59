/** One movie as the ratings service knows it: its catalog entry (from the legacy table) and its exact totals. */
import { NO_RATINGS, type RatingTotals } from '../rating.ts';
import type { EventEnvelope } from '../contract.ts';

export interface CatalogEntry {
  title: string;
  releaseYear: number | null;
}

export interface RatedMovie {
  /** Undefined until the catalog names it; null once it was removed from the catalog. */
  movie: CatalogEntry | null | undefined;
  totals: RatingTotals;
}

export const initialRatedMovie = (): RatedMovie => ({ movie: undefined, totals: NO_RATINGS });

export function evolve(state: RatedMovie, event: EventEnvelope): RatedMovie {
  switch (event.type) {
    case 'MovieUpserted':
      return { ...state, movie: { title: event.data.title, releaseYear: event.data.releaseYear } };
    case 'MovieRemoved':
      return { ...state, movie: null };
    case 'RatedMovieChanged':
      // The totals it carries are the service's own running totals: folding them back is exact and idempotent.
      return { ...state, totals: { count: event.data.count, sumTenths: event.data.sumTenths } };
    case 'RatedMovieRemoved':
      return state;
    default:
      return event satisfies never;
  }
}
