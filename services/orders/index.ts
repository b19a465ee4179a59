/**
 * The orders domain on the log: the CQRS orders flow of the Kafka talk. Four services (orders decides the
 * outcome; inventory, fraud and order-details judge each order) and two projections.
 */
import type { DomainRuntime } from '../shared/process.ts';
import { ordersContract } from './contract.ts';
import { fraudService } from './fraud/handler.ts';
import { inventoryService } from './inventory/handler.ts';
import { orderDetailsService } from './order-details/handler.ts';
import { ordersService } from './orders/handler.ts';
import { inventoryProjection } from './projections/inventory.ts';
import { ordersProjection } from './projections/orders.ts';
import { seedStock } from './seed.ts';

const orders: DomainRuntime = {
  contract: ordersContract,
  services: [ordersService, inventoryService, fraudService, orderDetailsService],
  projections: [ordersProjection, inventoryProjection],
  seed: seedStock,
};
export default orders;
