/** Wires the orders decider to its topics: commands in, order events out, check verdicts folded in. */
import type { ServiceDefinition } from '../../shared/service.ts';
import { TOPICS, ordersContract, type OrdersContract } from '../contract.ts';
import { decide } from './decide.ts';
import { evolve, initialOrderState, type OrderState } from './evolve.ts';

export const ordersService: ServiceDefinition<OrderState, OrdersContract> = {
  ...ordersContract.service('orders'),
  contract: ordersContract,
  stateTopics: [TOPICS.orderEvents, TOPICS.orderValidations],
  stateKey(message) {
    switch (message.type) {
      case 'PlaceOrder':
      case 'OrderCreated':
      case 'OrderCheckCompleted':
      case 'OrderValidated':
      case 'OrderFailed':
        return message.data.orderId;
      default:
        return undefined;
    }
  },
  initialState: initialOrderState,
  evolve,
  decide,
};
