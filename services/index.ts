/**
 * Every service of the system, with its parts. The start script runs each as its own process
 * (`services/<name>/main.ts`); tests may start them in-process.
 */
import type { ServiceParts } from './shared/process.ts';
import { fraudService } from './fraud/handler.ts';
import { inventoryService } from './inventory/handler.ts';
import { inventoryProjection } from './inventory/projection.ts';
import { orderDetailsService } from './order-details/handler.ts';
import { ordersService } from './orders/handler.ts';
import { ordersProjection } from './orders/projection.ts';

export const SERVICES: ServiceParts[] = [
  { name: 'orders', service: ordersService, projections: [ordersProjection] },
  { name: 'inventory', service: inventoryService, projections: [inventoryProjection] },
  { name: 'fraud', service: fraudService },
  { name: 'order-details', service: orderDetailsService },
];

export function serviceParts(name: string): ServiceParts {
  const parts = SERVICES.find((s) => s.name === name);
  if (!parts) throw new Error(`unknown service "${name}"; known: ${SERVICES.map((s) => s.name).join(', ')}`);
  return parts;
}
