/**
 * Prepares an empty or existing system: database and migrations, topics, and seed stock on an empty system.
 * Idempotent. Used by `npm start` and, alone (`npm run setup`), by docker-compose before the services start.
 */
import { resolve } from 'node:path';
import { migrate } from '../infra/database.ts';
import { createBus, ensureTopics, type Bus } from '../services/shared/bus.ts';
import { databaseUrl } from '../services/shared/config.ts';
import { createCommand, TOPICS } from '../services/shared/messages.ts';

const SEED_STOCK = { JUMPERS: 10, UNDERPANTS: 75, STOCKINGS: 20 };

export async function setUpSystem(say: (line: string) => void): Promise<void> {
  say(`applying migrations to ${redact(databaseUrl())}`);
  await migrate(databaseUrl(), say);
  const bus = await createBus({ clientId: 'setup' });
  try {
    const created = await ensureTopics(bus.kafka);
    if (created.length) say(`created topics ${created.join(', ')}`);
    await seedStock(bus, say);
  } finally {
    await bus.close();
  }
}

/** Seeds stock as commands, like any client's, when no inventory command or event exists yet. */
async function seedStock(bus: Bus, say: (line: string) => void) {
  const topics = [TOPICS.inventoryEvents, TOPICS.inventoryCommands].map(bus.topic);
  const offsets = await Promise.all(topics.map((topic) => bus.topicOffsets(topic)));
  if (!offsets.flat().every((p) => p.high === p.low)) return;
  await bus.publish(
    Object.entries(SEED_STOCK).map(([product, quantity]) => createCommand({ type: 'AddInventory', data: { product, quantity } })),
  );
  say(`seeded stock: ${Object.entries(SEED_STOCK).map(([p, q]) => `${p} ${q}`).join(', ')}`);
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await setUpSystem((line) => console.log(`[setup] ${line}`));
}
