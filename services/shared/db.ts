/** The Prisma client, on the `pg` driver adapter (Prisma 7 needs no query-engine binary). */
import { createHash } from 'node:crypto';
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
  /** `synchronous_commit = off`: only for projectors, whose position commits with their rows (a lost tail is redone). */
  asyncCommit?: boolean;
}

/** Plain SQL on a Prisma client's own connection pool: see `sqlOf`. */
export interface SqlClient {
  /** Runs one statement with `$1`-style parameters and returns its rows as `pg` parses them. */
  query<Row>(text: string, values?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs `work` in one transaction; `closing` gives statements sent with COMMIT. A statement over
   * TRANSACTION_STATEMENT_TIMEOUT_MS fails: a lock held elsewhere must not hold a projector for ever.
   */
  transaction<T>(work: (tx: SqlTransaction) => Promise<T>, options?: { closing?: () => SqlStatement[] }): Promise<T>;
}

type Row = Record<string, unknown>;

/** What a tagged template's `${value}` may be: scalars, and flat arrays of them (cast them: `${ids}::text[]`). */
export type SqlValue = string | number | bigint | boolean | Date | null | undefined | readonly SqlScalar[];
type SqlScalar = string | number | bigint | boolean | Date | null | undefined;

const UNSUPPORTED = 'cannot be an SQL value here: pass a string, number, bigint, boolean, Date, null or a flat array of them';

/** A scalar as PostgreSQL reads it from text: bigints and numbers exactly, Dates as ISO (no local-time conversion). */
function textOf(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') {
    // PostgreSQL text cannot hold it: refused here, plainly, rather than by the server mid-transaction.
    if (value.includes('\u0000')) throw new Error('PostgreSQL text cannot hold the NUL character (0x00)');
    return value;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${value} is not a number SQL can take`);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) throw new Error('nested arrays are not supported as SQL values: pass one flat array per column');
  throw new Error(`a ${typeof value} ${UNSUPPORTED}`);
}

/** A parameter in text: the server parses it as its place's type, with that type's input check (`'2.5'` is no int). */
function parameterOf(value: SqlValue): string | (string | null)[] | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) {
    const elements: (string | null)[] = [];
    // By index, so that a hole is a NULL too.
    for (let i = 0; i < value.length; i += 1) elements.push(value[i] === null || value[i] === undefined ? null : textOf(value[i]));
    return elements;
  }
  return textOf(value);
}

/** A table or column name where no parameter can go (e.g. TRUNCATE): plain lower-case names only, quoted. */
export function sqlIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`"${name}" is not a table or column name this runtime takes: use lower-case letters, digits and _ (at most 63), starting with a letter or _`);
  return pg.escapeIdentifier(name);
}

/** One statement: its text with `$1`, `$2`, … in place of its values, and the values. */
export interface SqlStatement {
  text: string;
  values: (string | (string | null)[] | null)[];
}

/** A tagged template as a statement: every `${value}` becomes a parameter, never text of the statement. */
export function statementOf(strings: TemplateStringsArray, ...values: SqlValue[]): SqlStatement {
  return { text: strings.reduce((text, part, i) => `${text}$${i}${part}`), values: values.map(parameterOf) };
}

/**
 * Statements inside a `SqlClient.transaction`, pipelined: a transaction that only writes costs one round trip (one
 * per statement cost ~1.4 ms each). The first failure is what the transaction fails with.
 */
export interface SqlTransaction {
  /** One statement as a tagged template; returns its rows as `pg` parses them (int8 and numeric as strings). */
  sql<Row = unknown>(strings: TemplateStringsArray, ...values: SqlValue[]): Promise<Row[]>;
  /** One statement whose rows nobody reads: its failure fails the transaction. Values as in `sql`. */
  queue(strings: TemplateStringsArray, ...values: SqlValue[]): void;
}

const sqlClients = new WeakMap<PrismaClient, SqlClient>();
const statementNames = new Map<string, string>();
/** A statement's name on every connection: from its text, so two texts never share one. */
function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (!name && statementNames.size < MAX_NAMED_STATEMENTS) statementNames.set(text, (name = `s${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`));
  return name;
}
/** Texts are the code's own, so few; past this many (text built from data), a statement goes unnamed. */
const MAX_NAMED_STATEMENTS = 1_000;
/** The longest a statement inside `SqlClient.transaction` may run. */
export const TRANSACTION_STATEMENT_TIMEOUT_MS = 60_000;

export function createPrisma(url: string = databaseUrl(), options: PrismaOptions = {}): PrismaClient {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    // For SqlTransaction; Prisma waits for each of its own answers anyway.
    pipeline: true,
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
      // With values: named, so each connection parses and plans it once (planning a history page cost more than running
      // it). Without: sent as text, where several statements may go in one.
      const name = values.length ? statementName(text) : undefined;
      return (await pool.query({ name, text, values: values as unknown[] })).rows as Row[];
    },
    async transaction(work, { closing } = {}) {
      await (connected ??= prisma.$connect());
      const client = await pool.connect();
      // A checked-out client has no pool error listener: without one, a connection ended mid-transaction crashes the process.
      let broken: Error | undefined;
      const onError = (error: Error) => { broken = error; };
      client.on('error', onError);
      /** The first statement that failed: every one after it fails as "current transaction is aborted". */
      let failure: unknown;
      const sent: Promise<unknown>[] = [];
      const send = ({ text, values }: SqlStatement): Promise<pg.QueryResult<Row>> => {
        options.onQuery?.(text);
        const answer = client.query<Row>(text, values);
        sent.push(answer.catch((error: unknown) => { failure ??= error; }));
        return answer;
      };
      const settled = async () => {
        await Promise.all(sent);
        if (failure !== undefined) throw failure;
      };
      try {
        send({ text: 'BEGIN', values: [] });
        send({ text: `SET LOCAL statement_timeout = ${TRANSACTION_STATEMENT_TIMEOUT_MS}`, values: [] });
        const result = await work({
          sql: async (strings, ...values) => {
            const answer = send(statementOf(strings, ...values));
            await settled();
            return (await answer).rows as never;
          },
          queue: (strings, ...values) => void send(statementOf(strings, ...values)),
        });
        for (const statement of closing?.() ?? []) send(statement);
        // After a failure PostgreSQL answers COMMIT with a rollback, not an error: the failure is what counts.
        send({ text: 'COMMIT', values: [] });
        await settled();
        return result;
      } catch (error) {
        await Promise.all(sent);
        if (!broken) await client.query('ROLLBACK').catch((rollback: Error) => { broken = rollback; });
        throw failure ?? error;
      } finally {
        client.removeListener('error', onError);
        client.release(broken); // a broken connection, or one that could not even roll back, is closed, not reused
      }
    },
  });
  return prisma as unknown as PrismaClient;
}

/** Plain SQL on the pool of a `createPrisma` client, where Prisma's own work costs more than the query (hot paths). */
export function sqlOf(prisma: PrismaClient): SqlClient {
  const sql = sqlClients.get(prisma);
  if (!sql) throw new Error('this Prisma client was not made by createPrisma (services/shared/db.ts): make it with createPrisma to read with plain SQL');
  return sql;
}
