/**
 * The movies read model: the legacy catalog joined with each movie's exact totals, served by the gateway.
 * A batch is folded per movie in memory first, then written with one statement per kind of change, so a burst
 * of ratings costs a few statements, not one per rating.
 */
import type { ProjectionDefinition } from '../../shared/projector.ts';
import { ratingsContract, type EventEnvelope, type RatingsContract } from '../contract.ts';

type Catalog = Extract<EventEnvelope, { type: 'MovieUpserted' }>['data'];

export const moviesProjection: ProjectionDefinition<RatingsContract> = {
  ...ratingsContract.projection('ratings-projector'),
  contract: ratingsContract,
  async apply(tx, events) {
    // The last change of each kind per movie wins: both topics keep one movie's changes in order.
    const catalog = new Map<string, { movie: Catalog | null; at: string }>();
    const totals = new Map<string, { title: string; releaseYear: number | null; count: number; sumTenths: number; at: string }>();
    for (const event of events) {
      switch (event.type) {
        case 'MovieUpserted':
          catalog.set(event.data.movieId, { movie: event.data, at: event.occurredAt });
          break;
        case 'MovieRemoved':
          catalog.set(event.data.movieId, { movie: null, at: event.occurredAt });
          break;
        case 'RatedMovieChanged':
          totals.set(event.data.movieId, { ...event.data, at: event.occurredAt });
          break;
        case 'RatedMovieRemoved':
          break; // the catalog's removal already hides the movie
        default:
          event satisfies never;
      }
    }
    const upserted = [...catalog].filter(([, c]) => c.movie).map(([id, c]) => ({ id, ...c.movie!, at: c.at }));
    const removed = [...catalog].filter(([, c]) => !c.movie).map(([id, c]) => ({ id, at: c.at }));
    if (upserted.length) {
      tx.queue`
        INSERT INTO movies (id, title, release_year, country, genres, removed, updated_at)
        SELECT u.id, u.title, u.year, u.country, ARRAY(SELECT jsonb_array_elements_text(u.genres)), false, u.at
        FROM unnest(${upserted.map((m) => m.id)}::bigint[], ${upserted.map((m) => m.title)}::text[],
                    ${upserted.map((m) => m.releaseYear)}::int[], ${upserted.map((m) => m.country)}::text[],
                    ${upserted.map((m) => JSON.stringify(m.genres))}::jsonb[], ${upserted.map((m) => m.at)}::timestamptz[])
             AS u(id, title, year, country, genres, at)
        ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, release_year = EXCLUDED.release_year, country = EXCLUDED.country,
          genres = EXCLUDED.genres, removed = false, updated_at = GREATEST(movies.updated_at, EXCLUDED.updated_at)`;
    }
    if (removed.length) {
      tx.queue`
        INSERT INTO movies (id, title, genres, removed, updated_at)
        SELECT r.id, '', '{}', true, r.at FROM unnest(${removed.map((m) => m.id)}::bigint[], ${removed.map((m) => m.at)}::timestamptz[]) AS r(id, at)
        ON CONFLICT (id) DO UPDATE SET removed = true, updated_at = GREATEST(movies.updated_at, EXCLUDED.updated_at)`;
    }
    const rated = [...totals].map(([id, t]) => ({ id, ...t }));
    if (rated.length) {
      // A rating projected before its movie's catalog row creates the row from what the rated movie carries.
      tx.queue`
        INSERT INTO movies (id, title, release_year, genres, rating_count, rating_sum_tenths, updated_at)
        SELECT r.id, r.title, r.year, '{}', r.count, r.sum, r.at
        FROM unnest(${rated.map((m) => m.id)}::bigint[], ${rated.map((m) => m.title)}::text[], ${rated.map((m) => m.releaseYear)}::int[],
                    ${rated.map((m) => m.count)}::int[], ${rated.map((m) => m.sumTenths)}::bigint[], ${rated.map((m) => m.at)}::timestamptz[])
             AS r(id, title, year, count, sum, at)
        ON CONFLICT (id) DO UPDATE SET rating_count = EXCLUDED.rating_count, rating_sum_tenths = EXCLUDED.rating_sum_tenths,
          updated_at = GREATEST(movies.updated_at, EXCLUDED.updated_at)`;
    }
  },
};
