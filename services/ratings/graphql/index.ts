/** The ratings domain's GraphQL slice: movies and their exact ratings, and the live leaderboard. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GraphQLSlice } from '../../shared/graphql/index.ts';
import { TOPICS } from '../contract.ts';
import { createMovieLoader, type RatingsContext } from './context.ts';
import { EXAMPLE_TABS } from './examples.ts';
import { createMoviesLive } from './live.ts';
import { resolvers } from './resolvers.ts';
import { sqlOf } from '../../shared/db.ts';
import { createEventIndexReader } from '../../shared/event-index.ts';

const slice: GraphQLSlice = {
  domain: 'ratings',
  typeDefs: readFileSync(resolve(import.meta.dirname, 'schema.graphql'), 'utf8'),
  resolvers,
  follows: [TOPICS.movies, TOPICS.ratedMovies],
  examples: EXAMPLE_TABS,
  start(services, log) {
    const events = createEventIndexReader(sqlOf(services.prisma));
    const live = createMoviesLive(services, log);
    return {
      context: (): RatingsContext => ({ moviesById: createMovieLoader(services.prisma), events, live }),
      onMessage: (topic, message, position) => live.onMessage(topic, message, position),
      close: () => live.close(),
    };
  },
};
export default slice;
