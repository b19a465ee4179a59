/**
 * Who may do what in the ratings slice: the one place its resolvers ask (README, Authentication). The movie
 * catalog and the leaderboard are public, queries and subscriptions alike; rating a movie is for customers
 * (and admins).
 */
import { requireRole, type Viewer } from '../../shared/graphql/index.ts';

export const ratingsPolicy = {
  /** `movie`, `movies`, `topRatedMovies`, `movieRatingChanged`, `topRatedMoviesChanged`: anyone, signed in or not. */
  readCatalog: (_viewer: Viewer | undefined): void => {},

  /** `rateMovie`: customers. */
  rateMovie: (viewer: Viewer | undefined): Viewer => requireRole(viewer, ['customer'], 'rateMovie'),
};
