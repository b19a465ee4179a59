/** Wires the fraud check: order events in, FRAUD_CHECK verdicts out (which are also its state). */
import type { ServiceDefinition } from '../../shared/service.ts';
import { TOPICS, ordersContract, type OrdersContract } from '../contract.ts';
import { decide } from './decide.ts';
import { evolve, initialCustomerOrders, type CustomerOrders } from './evolve.ts';

export const fraudService: ServiceDefinition<CustomerOrders, OrdersContract> = {
  ...ordersContract.service('fraud'),
  contract: ordersContract,
  stateTopics: [TOPICS.orderValidations],
  // Verdicts are keyed by order, folded per customer: a customer's verdicts are on every partition.
  scatteredStateTopics: [TOPICS.orderValidations],
  stateKey(message) {
    if (message.type === 'OrderCreated') return message.data.customerId;
    if (message.type === 'OrderCheckCompleted' && message.data.checkType === 'FRAUD_CHECK') return message.data.customerId;
    return undefined;
  },
  initialState: initialCustomerOrders,
  evolve,
  decide,
};
