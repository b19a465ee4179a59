/** The Prisma client, on the `pg` driver adapter (Prisma 7 needs no query-engine binary). */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { databaseUrl } from './config.ts';

export type { Prisma } from '../../generated/prisma/client.ts';
export { PrismaClient };

export interface PrismaOptions {
  /** Connections in the pool. Default: 10. */
  poolSize?: number;
  /** Called with every SQL statement sent, through Prisma or `sqlOf` (used to count statements in tests and benchmarks). */
  onQuery?: (sql: string) => void;
  /**
   * Commits return before PostgreSQL has flushed them to disk (`synchronous_commit = off`). Only for writers
   * whose last commits can be redone after a database crash: projectors, whose position commits with their
   * rows, so a lost tail is projected again from Kafka. Default: false.
   */
  asyncCommit?: boolean;
}

/** Plain SQL on a Prisma client's own connection pool: see `sqlOf`. */
export interface SqlClient {
  /** Runs one statement with `$1`-style parameters and returns its rows as `pg` parses them. */
  query<Row>(text: string, values?: readonly unknown[]): Promise<Row[]>;
}

const sqlClients = new WeakMap<PrismaClient, SqlClient>();

export function createPrisma(url: string = databaseUrl(), options: PrismaOptions = {}): PrismaClient {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    ...(options.asyncCommit && { options: '-c synchronous_commit=off' }),
  });
  // An idle connection that breaks (PostgreSQL restarted) is dropped by the pool; the next query opens another.
  pool.on('error', () => {});
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  const prisma = options.onQuery
    ? new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] })
    : new PrismaClient({ adapter });
  if (options.onQuery) prisma.$on('query' as never, (event: { query: string }) => options.onQuery!(event.query));
  // Prisma ends the pool on $disconnect only once it has connected, so plain SQL connects it first.
  let connected: Promise<void> | undefined;
  sqlClients.set(prisma as PrismaClient, {
    async query<Row>(text: string, values: readonly unknown[] = []) {
      await (connected ??= prisma.$connect());
      options.onQuery?.(text);
      return (await pool.query(text, values as unknown[])).rows as Row[];
    },
  });
  return prisma as unknown as PrismaClient;
}

/**
 * The pool under a client made by `createPrisma`, for plain SQL where Prisma's own work per query costs more than
 * the query: the gateway's hot read paths (services/orders/graphql/read-model.ts). Same connections, same
 * `onQuery`, ended by the client's `$disconnect`.
 */
export function sqlOf(prisma: PrismaClient): SqlClient {
  const sql = sqlClients.get(prisma);
  if (!sql) throw new Error('this Prisma client was not made by createPrisma (services/shared/db.ts): make it with createPrisma to read with plain SQL');
  return sql;
}
