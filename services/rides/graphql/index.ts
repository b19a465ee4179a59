/** The rides domain's GraphQL slice: drivers, rides and their live positions. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GraphQLSlice } from '../../../gateway/context.ts';
import { TOPICS } from '../contract.ts';
import { createLoaders, type RidesContext } from './context.ts';
import { EXAMPLE_TABS } from './examples.ts';
import { createRidesLive } from './live.ts';
import { resolvers } from './resolvers.ts';

const slice: GraphQLSlice = {
  domain: 'rides',
  typeDefs: readFileSync(resolve(import.meta.dirname, 'schema.graphql'), 'utf8'),
  resolvers,
  follows: [TOPICS.rideEvents, TOPICS.driverEvents, TOPICS.driverLocations],
  examples: EXAMPLE_TABS,
  start(services, log) {
    const live = createRidesLive(services, log);
    return {
      context: (): RidesContext => ({ ...createLoaders(services.prisma), live }),
      onMessage: (topic, message, position) => live.onMessage(topic, message, position),
      close: () => live.close(),
    };
  },
};
export default slice;
