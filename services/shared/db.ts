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
  /**
   * Runs `work` in one transaction on one connection: committed once it resolves, rolled back if it throws. A
   * statement running longer than TRANSACTION_STATEMENT_TIMEOUT_MS fails (a lock held elsewhere must not hold a
   * projector for ever: its failure is retried, and in the end set aside).
   */
  transaction<T>(work: (tx: SqlTransaction, opened: Row[]) => Promise<T>, bookends?: TransactionBookends): Promise<T>;
}

type Row = Record<string, unknown>;

/**
 * Statements sent in the same round trip as BEGIN (`opening`: the rows of its last statement are handed to the
 * work) and as COMMIT (`closing`, made once the work resolved): two round trips fewer per transaction, about 1.4 ms
 * each for a projector's batch on the 2-core bench machine. Sent by the simple protocol, which takes no
 * parameters: every value in them goes through `literal`.
 */
export interface TransactionBookends {
  opening?: string;
  closing?: () => string;
}

/** A value as an SQL literal, for bookend statements: strings quoted and escaped, numbers checked to be numbers. */
export function literal(value: string | number | bigint): string {
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${value} is not a number SQL can take`);
  return String(value);
}

/** Statements inside a `SqlClient.transaction`. */
export interface SqlTransaction {
  /**
   * One statement as a tagged template; every `${value}` is sent as a parameter ($1, $2, …), never spliced into
   * the text. Returns its rows as `pg` parses them (int8 and numeric as strings).
   */
  sql<Row = unknown>(strings: TemplateStringsArray, ...values: unknown[]): Promise<Row[]>;
}

/** A template's values as `pg` parameters: bigints as text, Dates as ISO text (no local-time conversion), in arrays too. */
function parameter(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(parameter);
  return value;
}

const sqlClients = new WeakMap<PrismaClient, SqlClient>();
/** The longest a statement inside `SqlClient.transaction` may run. */
export const TRANSACTION_STATEMENT_TIMEOUT_MS = 60_000;

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
    async transaction(work, bookends = {}) {
      await (connected ??= prisma.$connect());
      const client = await pool.connect();
      // A checked-out client has no error listener of the pool's: without one, PostgreSQL ending the connection
      // mid-transaction (a restart, an administrator) would crash the process instead of failing this transaction.
      let broken: Error | undefined;
      const onError = (error: Error) => { broken = error; };
      client.on('error', onError);
      const run = async (text: string, values?: unknown[]): Promise<Row[]> => {
        options.onQuery?.(text);
        const results = (await client.query(text, values)) as pg.QueryResult<Row> | pg.QueryResult<Row>[];
        return Array.isArray(results) ? (results.at(-1)?.rows ?? []) : results.rows; // several statements: the last one's
      };
      try {
        // One round trip: the simple protocol takes several statements at once.
        const opened = await run([`BEGIN; SET LOCAL statement_timeout = ${TRANSACTION_STATEMENT_TIMEOUT_MS}`, bookends.opening].filter(Boolean).join('; '));
        const result = await work({
          sql: (strings, ...values) => run(strings.reduce((text, part, i) => `${text}$${i}${part}`), values.map(parameter)) as never,
        }, bookends.opening ? opened : []);
        await run([bookends.closing?.(), 'COMMIT'].filter(Boolean).join('; '));
        return result;
      } catch (error) {
        if (!broken) await run('ROLLBACK').catch((rollback: Error) => { broken = rollback; });
        throw error;
      } finally {
        client.removeListener('error', onError);
        client.release(broken); // a broken connection, or one that could not even roll back, is closed, not reused
      }
    },
  });
  return prisma as unknown as PrismaClient;
}

/**
 * The pool under a client made by `createPrisma`, for plain SQL where Prisma's own work per query costs more than
 * the query: the projectors' batch transactions (projector.ts) and the gateway's hot read paths
 * (services/orders/graphql/read-model.ts). Same connections, same `onQuery`, ended by the client's `$disconnect`.
 */
export function sqlOf(prisma: PrismaClient): SqlClient {
  const sql = sqlClients.get(prisma);
  if (!sql) throw new Error('this Prisma client was not made by createPrisma (services/shared/db.ts): make it with createPrisma to read with plain SQL');
  return sql;
}
