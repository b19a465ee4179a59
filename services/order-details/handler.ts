/** Wires the order-details check: order events in, ORDER_DETAILS_CHECK verdicts out. */
import type { ServiceDefinition } from '../shared/service.ts';
import { TOPICS } from '../shared/messages.ts';
import { decide } from './decide.ts';

export const orderDetailsService: ServiceDefinition<null> = {
  name: 'order-details',
  inputs: [TOPICS.orderEvents],
  stateTopics: [],
  stateKey: (message) => (message.type === 'OrderCreated' ? message.data.orderId : undefined),
  initialState: () => null,
  evolve: (state) => state,
  decide,
};
