/** Wires the inventory decider: stock commands and order events in, stock events and verdicts out. */
import type { ServiceDefinition } from '../../shared/service.ts';
import { TOPICS, ordersContract, type OrdersContract } from '../contract.ts';
import { decide } from './decide.ts';
import { evolve, initialProductStock, type ProductStock } from './evolve.ts';

export const inventoryService: ServiceDefinition<ProductStock, OrdersContract> = {
  ...ordersContract.service('inventory'),
  contract: ordersContract,
  stateTopics: [TOPICS.inventoryEvents],
  stateKey(message) {
    switch (message.type) {
      case 'AddInventory':
      case 'OrderCreated':
      case 'OrderFailed':
      case 'StockAdded':
      case 'StockReserved':
      case 'StockReservationFailed':
      case 'StockReleased':
        return message.data.product;
      default:
        return undefined;
    }
  },
  initialState: initialProductStock,
  evolve,
  decide,
};
