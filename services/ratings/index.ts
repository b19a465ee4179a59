/**
 * The ratings domain on the log: raw ratings counted exactly per movie against the legacy catalog (captured by
 * Debezium), and the rated movie written back to `rated-movies`. One service, one projection; no seed (the
 * catalog comes from the legacy database).
 */
import type { DomainRuntime } from '../shared/process.ts';
import { ratingsContract } from './contract.ts';
import { moviesProjection } from './projections/movies.ts';
import { ratingsService } from './ratings/handler.ts';

const ratings: DomainRuntime = {
  contract: ratingsContract,
  services: [ratingsService],
  projections: [moviesProjection],
};
export default ratings;
