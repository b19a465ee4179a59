/**
 * Prepares an empty or existing system: database and migrations, every domain's topics and their schemas in the
 * schema registry (services/shared/schemas.ts; refused, naming why, when a contract changed incompatibly), and each
 * domain's seed on an empty system.
 * Idempotent. Used by `npm start` and, alone (`npm run setup`), by docker-compose before the services start.
 */
import { resolve } from 'node:path';
import { migrate } from '../infra/database.ts';
import { createBus } from '../services/shared/bus.ts';
import { databaseUrl } from '../services/shared/config.ts';
import { createPrisma } from '../services/shared/db.ts';
import { reconcileProjectionLog } from '../services/shared/projector.ts';
import { DOMAINS } from '../services/domains.ts';
import { provisionPrefix } from '../services/shared/prefix.ts';
import { loadDomainRuntimes } from '../services/runtimes.ts';

export interface SetupOptions {
  /**
   * What to do with projections built from another Kafka log: `never` refuses to go on and prints the remedy
   * (the default: a given cluster may be the wrong one); `if-foreign` rebuilds them from this log (the embedded
   * broker of `npm start`, whose data may have been wiped); `always` rebuilds (`--rebuild-projections`).
   */
  rebuildProjections?: 'never' | 'if-foreign' | 'always';
}

export async function setUpSystem(say: (line: string) => void, options: SetupOptions = {}): Promise<void> {
  say(`applying migrations to ${redact(databaseUrl())}`);
  await migrate(databaseUrl(), say);
  const bus = await createBus({ clientId: 'setup' });
  const prisma = createPrisma();
  try {
    const { created, registered } = await provisionPrefix(bus.kafka, DOMAINS, bus.prefix);
    if (created.length) say(`created topics ${created.join(', ')}`);
    if (registered.length) say(`registered schemas ${registered.join(', ')}`);
    const projections = DOMAINS.flatMap((contract) => contract.projections);
    const { rebuilt, reason } = await reconcileProjectionLog(prisma, bus, projections, options.rebuildProjections ?? 'never');
    if (rebuilt) say(`${reason ? `${reason}: ` : ''}rebuilding the projections from this log`);
    for (const runtime of await loadDomainRuntimes()) {
      const seeded = await runtime.seed?.(bus);
      if (seeded) say(seeded);
    }
  } finally {
    await bus.close();
    await prisma.$disconnect();
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const say = (line: string) => console.log(`[setup] ${line}`);
  await setUpSystem(say, { rebuildProjections: process.argv.includes('--rebuild-projections') ? 'always' : 'never' }).catch((error: Error) => {
    say(`cannot set up: ${error.message}`);
    process.exit(1);
  });
}
