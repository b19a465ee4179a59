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
   * projector for ever: its failure is retried, and in the end set aside). `closing` is made once the work
   * resolved and sent with COMMIT.
   */
  transaction<T>(work: (tx: SqlTransaction) => Promise<T>, options?: { closing?: () => string }): Promise<T>;
}

type Row = Record<string, unknown>;

/** What `literal` writes as SQL: scalars, and flat arrays of them (as PostgreSQL's array text, to be cast: `${ids}::text[]`). */
export type SqlValue = string | number | bigint | boolean | Date | null | undefined | readonly SqlScalar[];
type SqlScalar = string | number | bigint | boolean | Date | null | undefined;

const UNSUPPORTED = 'cannot be an SQL value here: pass a string, number, bigint, boolean, Date, null or a flat array of them';

/** A scalar as PostgreSQL reads it from text: bigints and numbers exactly, Dates as ISO (no local-time conversion). */
function textOf(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') {
    // PostgreSQL text cannot hold it, and in a query's text it would end the query: refused here, plainly.
    if (value.includes('\u0000')) throw new Error('PostgreSQL text cannot hold the NUL character (0x00)');
    return value;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${value} is not a number SQL can take`);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) throw new Error('nested arrays are not supported as SQL values: pass one flat array per column');
  throw new Error(`a ${typeof value} ${UNSUPPORTED}`);
}

/**
 * A value as an SQL literal: strings quoted and escaped by the driver, numbers checked to be numbers, arrays as
 * one quoted array text whose elements are quoted and escaped too. Every value a transaction's statements carry
 * goes through here: they are sent by the simple protocol, which takes no parameters, so that several of them
 * share one round trip.
 */
export function literal(value: SqlValue): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) {
    const elements: string[] = [];
    // By index, so that a hole is a NULL too.
    for (let i = 0; i < value.length; i += 1) {
      const element: unknown = value[i];
      elements.push(element === null || element === undefined ? 'NULL' : `"${textOf(element).replace(/[\\"]/g, (c) => `\\${c}`)}"`);
    }
    return pg.escapeLiteral(`{${elements.join(',')}}`);
  }
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) {
    // A negative number in parentheses: `x-${value}` must not become `x--5`, the start of a comment.
    return value < 0 ? `(${textOf(value)})` : textOf(value);
  }
  // Anything else quoted, numbers with a fraction included: the target type's own input check applies (`'2.5'::int`
  // is refused, where a bare 2.5 would be rounded), as it did for parameters.
  if (typeof value === 'string' || typeof value === 'number' || value instanceof Date) return pg.escapeLiteral(textOf(value));
  throw new Error(`a ${typeof value} ${UNSUPPORTED}`);
}

/**
 * Statements inside a `SqlClient.transaction`. Statements are not sent one by one: they wait and go with the next
 * statement whose rows the work reads (`sql`), or with COMMIT, so a transaction that only writes is one round trip
 * (BEGIN, its statements, COMMIT), where one round trip per statement cost a projector's batch ~1.4 ms each on the
 * 2-core bench machine.
 */
export interface SqlTransaction {
  /**
   * One statement as a tagged template, sent now with those waiting before it; returns its rows as `pg` parses
   * them (int8 and numeric as strings). Every `${value}` goes in through `literal`, never spliced in raw.
   */
  sql<Row = unknown>(strings: TemplateStringsArray, ...values: SqlValue[]): Promise<Row[]>;
  /** One statement whose rows nobody reads: sent with the next `sql`, or with COMMIT. Values as in `sql`. */
  queue(strings: TemplateStringsArray, ...values: SqlValue[]): void;
}

/** A tagged template's text with its values as literals. */
function statementOf(strings: TemplateStringsArray, values: readonly SqlValue[]): string {
  return strings.reduce((text, part, i) => `${text}${literal(values[i - 1])}${part}`);
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
    async transaction(work, { closing } = {}) {
      await (connected ??= prisma.$connect());
      const client = await pool.connect();
      // A checked-out client has no error listener of the pool's: without one, PostgreSQL ending the connection
      // mid-transaction (a restart, an administrator) would crash the process instead of failing this transaction.
      let broken: Error | undefined;
      const onError = (error: Error) => { broken = error; };
      client.on('error', onError);
      /** Statements not sent yet: they go with the next round trip, as one simple-protocol query. */
      let waiting: string[] = [`BEGIN; SET LOCAL statement_timeout = ${TRANSACTION_STATEMENT_TIMEOUT_MS}`];
      let begun = false;
      const send = async (last?: string): Promise<Row[]> => {
        // On lines of their own: a statement ending in a `-- comment` must not swallow the separator.
        const text = [...waiting, last].filter(Boolean).join('\n;\n');
        waiting = [];
        begun = true;
        options.onQuery?.(text);
        const results = (await client.query(text)) as pg.QueryResult<Row> | pg.QueryResult<Row>[];
        return Array.isArray(results) ? (results.at(-1)?.rows ?? []) : results.rows; // several statements: the last one's
      };
      try {
        const result = await work({
          sql: (strings, ...values) => send(statementOf(strings, values)) as never,
          queue: (strings, ...values) => void waiting.push(statementOf(strings, values)),
        });
        await send([closing?.(), 'COMMIT'].filter(Boolean).join('\n;\n'));
        return result;
      } catch (error) {
        if (begun && !broken) await client.query('ROLLBACK').catch((rollback: Error) => { broken = rollback; });
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
