/** Wires the order-details check: order events in, ORDER_DETAILS_CHECK verdicts out. */
import type { ServiceDefinition } from '../../shared/service.ts';
import { ordersContract, type OrdersContract } from '../contract.ts';
import { decide } from './decide.ts';

export const orderDetailsService: ServiceDefinition<null, OrdersContract> = {
  ...ordersContract.service('order-details'),
  contract: ordersContract,
  stateTopics: [],
  stateKey: (message) => (message.type === 'OrderCreated' ? message.data.orderId : undefined),
  initialState: () => null,
  evolve: (state) => state,
  decide,
};
