/** Stock an empty orders system starts with, added as commands like any client's. */
import type { Bus } from '../shared/bus.ts';
import { ordersContract, TOPICS } from './contract.ts';

const SEED_STOCK = { JUMPERS: 10, UNDERPANTS: 75, STOCKINGS: 20 };

export async function seedStock(bus: Bus): Promise<string | undefined> {
  const topics = [TOPICS.inventoryEvents, TOPICS.inventoryCommands].map(bus.topic);
  const offsets = await Promise.all(topics.map((topic) => bus.topicOffsets(topic)));
  if (!offsets.flat().every((p) => p.high === p.low)) return undefined;
  await bus.publish(
    Object.entries(SEED_STOCK).map(([product, quantity]) =>
      ordersContract.outgoing(ordersContract.command({ type: 'AddInventory', data: { product, quantity } }))),
  );
  return `seeded stock: ${Object.entries(SEED_STOCK).map(([p, q]) => `${p} ${q}`).join(', ')}`;
}
