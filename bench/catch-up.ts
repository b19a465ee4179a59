/**
 * A projector catching up on a log it has never read, under a topic prefix and in a database of its own: the orders
 * projector and the event index are measured on the same kind of log. `npx tsx bench/catch-up.ts` runs both alone.
 */
import { randomUUID } from 'node:crypto';
import { dropDatabase, migrate } from '../infra/database.ts';
import { DOMAINS } from '../services/domains.ts';
import { checkCompleted, ordersContract } from '../services/orders/contract.ts';
import { ordersProjection } from '../services/orders/projections/orders.ts';
import { createBus } from '../services/shared/bus.ts';
import { createPrisma } from '../services/shared/db.ts';
import { eventIndexProjection } from '../services/shared/event-index.ts';
import { createLogger } from '../services/shared/log.ts';
import { startProjector, type ProjectionDefinition } from '../services/shared/projector.ts';
import { provisionPrefix } from '../services/shared/prefix.ts';
import type { BenchSystem } from './system.ts';

/** Four events each: created and three verdicts; 80,000 events, a steadier figure than 20,000. */
export const CATCHUP_ORDERS = 20_000;

/** A projector catching up on a log it has never read: events applied per second, batch by batch. */
export async function projectorCatchUp(system: Pick<BenchSystem, 'topicPrefix' | 'databaseUrl' | 'kafkaBrokers'>, projection: ProjectionDefinition = ordersProjection) {
  const id = randomUUID().slice(0, 8);
  const prefix = `${system.topicPrefix}catchup-${id}.`;
  const url = new URL(system.databaseUrl);
  url.pathname = `/gateway_bench_catchup_${id}`;
  const databaseUrl = url.toString();
  await migrate(databaseUrl);
  const bus = await createBus({ clientId: 'bench-catchup', brokers: system.kafkaBrokers.split(','), prefix });
  const topics = await provisionPrefix(bus.kafka, DOMAINS, prefix);
  const cause = ordersContract.command({ type: 'AddInventory', data: { product: 'bench', quantity: 1 } });
  const events = Array.from({ length: CATCHUP_ORDERS }, (_, i) => {
    const created = ordersContract.event({ type: 'OrderCreated', data: { orderId: `o${i}`, customerId: 'c', product: 'P', quantity: 1, price: 1, currency: 'EUR' } }, cause, new Date());
    return [created, ...(['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK'] as const).map((type) => ordersContract.event(checkCompleted(created, type, 'PASS'), created, new Date()))];
  }).flat();
  for (let i = 0; i < events.length; i += 2000) await bus.publish(events.slice(i, i + 2000).map(ordersContract.outgoing));
  const prisma = createPrisma(databaseUrl, { asyncCommit: true }); // as services/shared/process.ts runs projectors
  const projector = await startProjector(projection, bus, prisma, createLogger('bench-catchup'));
  const started = performance.now(); // from the moment it holds its partitions: the group join is not throughput
  const applied = async () => {
    const rows = await prisma.projectionOffset.findMany({ where: { projector: prefix + projection.name } });
    return rows.reduce((sum, row) => sum + Number(row.nextOffset), 0);
  };
  while ((await applied()) < events.length) await new Promise((r) => setTimeout(r, 50));
  const seconds = (performance.now() - started) / 1000;
  await projector.stop();
  await prisma.$disconnect();
  await topics.remove();
  await bus.close();
  await dropDatabase(databaseUrl);
  return { events: events.length, seconds, perSecond: events.length / seconds };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const system = { topicPrefix: 'catchup.', databaseUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres', kafkaBrokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' };
  for (const projection of [ordersProjection, eventIndexProjection(ordersContract)]) {
    const result = await projectorCatchUp(system, projection);
    console.log(`${projection.name}: ${result.events} events in ${result.seconds.toFixed(2)} s, ${result.perSecond.toFixed(0)} events/s`);
  }
}
