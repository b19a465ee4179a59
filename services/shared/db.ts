/** The Prisma client, on the `pg` driver adapter (Prisma 7 needs no query-engine binary). */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { databaseUrl } from './config.ts';

export type { Prisma } from '../../generated/prisma/client.ts';
export { PrismaClient };

export interface PrismaOptions {
  /** Connections in the pool. Default: 10. */
  poolSize?: number;
  /** Called with every SQL statement Prisma sends (used to count statements in tests and benchmarks). */
  onQuery?: (sql: string) => void;
  /**
   * Commits return before PostgreSQL has flushed them to disk (`synchronous_commit = off`). Only for writers
   * whose last commits can be redone after a database crash: projectors, whose position commits with their
   * rows, so a lost tail is projected again from Kafka. Default: false.
   */
  asyncCommit?: boolean;
}

export function createPrisma(url: string = databaseUrl(), options: PrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: url,
    max: options.poolSize ?? 10,
    ...(options.asyncCommit && { options: '-c synchronous_commit=off' }),
  });
  if (!options.onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query', (event) => options.onQuery!(event.query));
  return prisma as unknown as PrismaClient;
}
