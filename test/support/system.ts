/**
 * One isolated system per test file: its own topic prefix and database on the shared broker and server,
 * the services started in-process (the same code `npm start` runs as processes) and gateways on free ports.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { deleteConnector, ensureConnect, registerMoviesConnector } from '../../infra/connect/connect.ts';
import { createLegacyDatabase, dropLegacyDatabase } from '../../infra/legacy-postgres.ts';
import { createClient, type Client } from 'graphql-ws';
import { inject } from 'vitest';
import WebSocket from 'ws';
import { dropDatabase, migrate } from '../../infra/database.ts';
import { createKafka } from '../../services/shared/bus.ts';
import { provisionPrefix } from '../../services/shared/prefix.ts';
import { createPrisma, type PrismaClient } from '../../services/shared/db.ts';
import { DOMAINS } from '../../services/domains.ts';
import type { AnyContract } from '../../services/shared/messages.ts';
import { loadProcesses } from '../../services/runtimes.ts';
import { startParts, type RunningParts } from '../../services/shared/process.ts';
import { startGateway, type RunningGateway } from '../../gateway/server.ts';
import type { Role } from '../../services/shared/graphql/index.ts';
import { signToken } from '../../gateway/auth.ts';

export interface Isolation {
  prefix: string;
  databaseUrl: string;
  /** The environment a child process needs to join this isolated system. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A fresh, migrated database for a test file that needs PostgreSQL but no Kafka: its URL, and drop() for afterAll. */
export async function freshDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const target = new URL(inject('databaseUrl'));
  target.pathname = `/gateway_test_${name}_${randomUUID().slice(0, 8)}`;
  const url = target.toString();
  await migrate(url);
  return { url, drop: () => dropDatabase(url) };
}

/** Points this test file (and the processes it spawns) at a fresh topic prefix and a fresh database, with the domains' topics. */
export async function isolate(domains: readonly AnyContract[] = DOMAINS): Promise<Isolation> {
  const id = randomUUID().slice(0, 8);
  const prefix = `test-${id}.`;
  const url = new URL(inject('databaseUrl'));
  url.pathname = `/gateway_test_${id}`;
  const env = {
    KAFKA_BROKERS: inject('kafkaBrokers'),
    TOPIC_PREFIX: prefix,
    DATABASE_URL: url.toString(),
    LOG_LEVEL: process.env.TEST_LOGS ? 'info' : 'silent',
  };
  Object.assign(process.env, env);
  await migrate(env.DATABASE_URL);
  const topics = await provisionPrefix(createKafka('test-setup'), domains, prefix);
  return {
    prefix,
    databaseUrl: env.DATABASE_URL,
    env,
    // A shared broker must not collect every test run's topics.
    drop: async () => {
      await topics.remove();
      await dropDatabase(env.DATABASE_URL);
    },
  };
}

/** Creates the contracts' topics under `prefix` and registers their schemas, for a test on a bus of its own; `drop` removes both. */
export async function ownTopics(prefix: string, contracts: readonly AnyContract[]): Promise<{ drop(): Promise<void> }> {
  const topics = await provisionPrefix(createKafka('test-topics'), contracts, prefix);
  return { drop: topics.remove };
}

export interface GraphQLResult<T = any> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; [key: string]: unknown } }[];
}

/**
 * Whom an operation runs as, and on which gateway: by default the first gateway and an admin (who may do
 * everything, so tests of other concerns need not care); `token: null` runs it anonymously. A gateway alone
 * is accepted too.
 */
export type As = RunningGateway | { gateway?: RunningGateway; token?: string | null };

/** A token of this machine's test secret (the generated one under .data/, as the test gateways verify). */
export function tokenFor(sub: string, roles: Role[], ttlSeconds = 3600): Promise<string> {
  return signToken({ sub, roles, ttlSeconds });
}

export interface TestSystem {
  isolation: Isolation;
  /** With `catalog: true`: the legacy movie catalog this system captures. */
  catalog?: Catalog;
  gateways: RunningGateway[];
  prisma: PrismaClient;
  /** POSTs an operation to the first gateway (or the given one), as an admin unless told otherwise. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, as?: As): Promise<GraphQLResult<T>>;
  /** Stops a service and starts it again, in-process: it restores its state from the log. */
  restartService(name: string): Promise<void>;
  stopService(name: string): Promise<void>;
  startService(name: string): Promise<void>;
  /** Subscribes over graphql-ws (one socket per subscription) and collects every payload; as an admin unless told otherwise. */
  subscribe<T = any>(query: string, variables?: Record<string, unknown>, as?: As): Subscription<T>;
  stop(): Promise<void>;
}

export interface Subscription<T> {
  values: T[];
  errors: unknown[];
  /** The socket's close code once the server closed it (e.g. 4401), else undefined. */
  closeCode(): number | undefined;
  /** Resolves once `count` values have arrived. */
  received(count: number, timeoutMs?: number): Promise<T[]>;
  close(): Promise<void>;
}

export interface Catalog {
  /** This test file's own legacy database (seeded), captured by its own Connect worker into its `movies` topic. */
  legacyUrl: string;
  connectUrl: string;
  /** Runs SQL on the legacy database, as the legacy application would. */
  sql(text: string, values?: unknown[]): Promise<unknown[]>;
}

/**
 * The legacy catalog for one test file: its own database on the legacy PostgreSQL, its own Connect worker (a
 * worker shared between files would stop with the first file that started it) and connector.
 */
async function captureCatalog(isolation: Isolation): Promise<Catalog & { stop(): Promise<void> }> {
  const id = isolation.prefix.replace(/[^a-z0-9]/g, '');
  const url = new URL(inject('legacyDatabaseUrl'));
  url.pathname = `/legacy_${id}`;
  const legacyUrl = url.toString();
  await createLegacyDatabase(legacyUrl);
  const connect = await ensureConnect({ brokers: inject('kafkaBrokers').split(','), port: await freePort(), group: `${isolation.prefix}connect`, log: () => {} });
  const connector = { connectUrl: connect.url, name: `${isolation.prefix}movies`, legacyUrl, slotName: `${id}_movies` };
  await registerMoviesConnector({ ...connector, topic: `${isolation.prefix}movies` });
  const db = new pg.Client({ connectionString: legacyUrl });
  await db.connect();
  return {
    legacyUrl,
    connectUrl: connect.url,
    sql: async (text, values) => (await db.query(text, values as unknown[])).rows,
    async stop() {
      await db.end().catch(() => {});
      await deleteConnector(connector).catch(() => {});
      await connect.stop();
      await dropLegacyDatabase(legacyUrl).catch(() => {});
    },
  };
}

/** Whether a process with this pid still runs. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A free port whose successor is free too (a broker's controller listens on port + 1). */
export async function freePortPair(): Promise<number> {
  const listen = (port: number) =>
    new Promise<number | null>((done) => {
      const server = createServer();
      server.once('error', () => done(null));
      server.listen(port, '127.0.0.1', () => {
        const { port: bound } = server.address() as { port: number };
        server.close(() => done(bound));
      });
    });
  for (;;) {
    const port = await listen(0);
    if (port && port < 65535 && (await listen(port + 1))) return port;
  }
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
    server.once('error', reject);
  });
}

export async function startSystem(options: { gateways?: number; commandTimeoutMs?: number; catalog?: boolean } = {}): Promise<TestSystem> {
  const isolation = await isolate();
  const catalog = options.catalog ? await captureCatalog(isolation) : undefined;
  const processes = await loadProcesses();
  const running = new Map<string, RunningParts>(
    await Promise.all(processes.map(async (parts) => [parts.name, await startParts([parts])] as const)),
  );
  const gateways = await Promise.all(
    Array.from({ length: options.gateways ?? 1 }, () => startGateway({ port: 0, host: '127.0.0.1', commandTimeoutMs: options.commandTimeoutMs ?? 20_000 })),
  );
  const prisma = createPrisma(isolation.databaseUrl);
  const clients: Client[] = [];
  const adminToken = await tokenFor('admin', ['admin'], 24 * 3600);
  const resolveAs = (as: As | undefined) => {
    const { gateway = gateways[0], token = adminToken } = as && 'url' in as ? { gateway: as } : (as ?? {});
    return { gateway, token };
  };

  const stopService = async (name: string) => {
    await running.get(name)?.stop();
    running.delete(name);
  };
  const startService = async (name: string) => {
    running.set(name, await startParts([processes.find((s) => s.name === name)!]));
  };

  return {
    isolation,
    catalog,
    gateways,
    prisma,
    async gql(query, variables, as) {
      const { gateway, token } = resolveAs(as);
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as GraphQLResult;
    },
    async restartService(name) {
      await stopService(name);
      await startService(name);
    },
    stopService,
    startService,
    subscribe(query, variables, as) {
      const { gateway, token } = resolveAs(as);
      let closeCode: number | undefined;
      const client = createClient({
        url: gateway.wsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0,
        connectionParams: token ? { authorization: `Bearer ${token}` } : undefined,
        on: { closed: (event) => { closeCode = (event as { code: number }).code; } },
      });
      clients.push(client);
      const values: any[] = [];
      const errors: unknown[] = [];
      const watchers: (() => void)[] = [];
      const notify = () => watchers.splice(0).forEach((w) => w());
      const unsubscribe = client.subscribe(
        { query, variables },
        {
          next: (result) => {
            if (result.errors) errors.push(...result.errors);
            if (result.data) values.push(result.data);
            notify();
          },
          error: (error) => { errors.push(error); notify(); },
          complete: notify,
        },
      );
      return {
        values,
        errors,
        closeCode: () => closeCode,
        async received(count, timeoutMs = 20_000) {
          await waitFor(() => values.length >= count, timeoutMs, () => `${values.length}/${count} subscription values (errors: ${JSON.stringify(errors)})`);
          return values;
        },
        async close() {
          unsubscribe();
          await client.dispose();
        },
      };
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.dispose()));
      await Promise.allSettled(gateways.map((g) => g.stop()));
      await Promise.allSettled([...running.values()].map((r) => r.stop()));
      await prisma.$disconnect();
      await catalog?.stop();
      await isolation.drop().catch(() => {});
    },
  };
}

/** Polls `condition` until it holds; fails with `describe()` after the deadline. Never a fixed sleep. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  describe: () => string = () => 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
