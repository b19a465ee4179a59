/** The rides domain's GraphQL slice: drivers, rides and their live positions, and the city map's feed (./city.graphql). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GraphQLSlice, ViewerContext } from '../../shared/graphql/index.ts';
import { sqlOf } from '../../shared/db.ts';
import { createEventIndexReader } from '../../shared/event-index.ts';
import { rideRegions } from '../config.ts';
import { TOPICS } from '../contract.ts';
import { checkBox, createCityLive, type Box, type CityLive } from './city.ts';
import { createLoaders, type RidesContext } from './context.ts';
import { EXAMPLE_TABS } from './examples.ts';
import { createRidesLive } from './live.ts';
import { ridesPolicy } from './policy.ts';
import { regionsQuery } from './regions.ts';
import { resolvers } from './resolvers.ts';

const slice: GraphQLSlice = {
  domain: 'rides',
  typeDefs: ['schema.graphql', 'city.graphql', 'regions.graphql'].map((file) => readFileSync(resolve(import.meta.dirname, file), 'utf8')).join('\n'),
  resolvers: {
    ...resolvers,
    Query: { ...resolvers.Query, regions: regionsQuery },
    Subscription: {
      ...resolvers.Subscription,
      cityUpdated: {
        subscribe(_: unknown, { box }: { box: Box }, { viewer, rides }: ViewerContext & { rides: { city: CityLive } }) {
          ridesPolicy.fleetWide(viewer, 'cityUpdated');
          return rides.city.city(checkBox(box));
        },
        resolve: (update: unknown) => update,
      },
    },
  },
  follows: [TOPICS.rideEvents, TOPICS.driverEvents, TOPICS.driverLocations],
  examples: EXAMPLE_TABS,
  start(services, log) {
    rideRegions(); // a bad RIDE_REGIONS stops the gateway at start, saying why
    const events = createEventIndexReader(sqlOf(services.prisma));
    const live = createRidesLive(services, events, log);
    const city = createCityLive(services, log);
    return {
      context: (): RidesContext & { city: CityLive } => ({ ...createLoaders(services.prisma, events), live, city }),
      onMessage: (topic, message, position) => {
        live.onMessage(topic, message, position);
        city.onMessage(topic, message, position);
      },
      close: () => {
        live.close();
        city.close();
      },
    };
  },
};
export default slice;
