/** The Prisma client, on the `pg` driver adapter (Prisma 7 needs no query-engine binary). */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { databaseUrl } from './config.ts';

export type { Prisma } from '../../generated/prisma/client.ts';
export { PrismaClient };

export function createPrisma(url: string = databaseUrl(), poolSize = 10): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: poolSize }) });
}
