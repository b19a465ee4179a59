/** The orders domain's GraphQL slice: its SDL, resolvers, per-operation loaders and the live order feed. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GraphQLSlice } from '../../shared/graphql/index.ts';
import { TOPICS, ordersContract } from '../contract.ts';
import { sqlOf } from '../../shared/db.ts';
import { createEventIndexReader } from '../../shared/event-index.ts';
import { createLoaders, type OrdersContext } from './context.ts';
import { EXAMPLE_TABS } from './examples.ts';
import { createOrderFeed } from './feed.ts';
import { createOrdersReadModel } from './read-model.ts';
import { resolvers } from './resolvers.ts';

const slice: GraphQLSlice = {
  domain: 'orders',
  typeDefs: readFileSync(resolve(import.meta.dirname, 'schema.graphql'), 'utf8'),
  resolvers,
  follows: [TOPICS.orderEvents, TOPICS.orderValidations],
  examples: EXAMPLE_TABS,
  start(services, log) {
    const reads = createOrdersReadModel(sqlOf(services.prisma));
    const events = createEventIndexReader(sqlOf(services.prisma));
    const feed = createOrderFeed(events, services, log);
    return {
      context: (): OrdersContext => ({ reads, events, loaders: createLoaders(reads, events), feed }),
      onMessage(topic, message, position) {
        // Every message of these topics is keyed by its order (the contract's keys), so only the events of watched
        // orders need decoding.
        const orderId = message.key?.toString();
        if (!orderId) return;
        feed.onMessage(orderId, { ...position, logicalTopic: topic }, () => {
          const envelope = ordersContract.read(topic, message);
          // The contract keys these topics by order: a message keyed otherwise is no update of this order.
          return envelope?.kind === 'event' && 'orderId' in envelope.data && envelope.data.orderId === orderId ? envelope : undefined;
        });
      },
      close: () => feed.close(),
    };
  },
};
export default slice;
