/**
 * The system under benchmark: the one already running (BENCH_GATEWAY_URL, or localhost:4000 when healthy),
 * or a fresh one started as separate processes by scripts/start.ts on its own port, topic prefix and database,
 * so the load generator never shares an event loop with what it measures. A fresh system also captures a legacy
 * catalog of its own (its own database on the legacy PostgreSQL, its own Connect worker and connector), all
 * removed by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { deleteConnector, ensureConnect, MOVIES_TOPIC } from '../infra/connect/connect.ts';
import { dropDatabase } from '../infra/database.ts';
import { ensureKafka } from '../infra/kafka/broker.ts';
import { ensureSchemaRegistry } from '../infra/registry/registry.ts';
import { dropLegacyDatabase, ensureLegacyDatabase, legacyDatabaseUrl } from '../infra/legacy-postgres.ts';
import { createKafka, deleteTopicsAndGroups } from '../services/shared/bus.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import { cpuSnapshot, requestTotals, type CpuSnapshot } from './usage.ts';

export interface Usage {
  cpu: CpuSnapshot;
  requests: Record<string, number>;
}

export interface BenchSystem {
  url: string;
  wsUrl: string;
  kafkaBrokers: string;
  databaseUrl: string;
  topicPrefix: string;
  /** The legacy catalog this system captures (the bench edits titles there, then restores them). */
  legacyUrl: string;
  /** The physical topic Debezium writes the catalog's changes to. */
  moviesTopic: string;
  /** What the system has spent so far (CPU per process, Kafka requests); for a running system, the broker's CPU only. */
  usage(): Promise<Usage>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
    server.once('error', reject);
  });
}

const healthy = (url: string) =>
  fetch(url.replace(/\/graphql$/, '/healthz')).then((r) => r.ok, () => false);

export interface SystemOptions {
  /**
   * For a fresh system: services that run apart, in several processes (scripts/start.ts's SERVICE_INSTANCES, e.g.
   * `{ dispatch: 2 }`). Default: none. A running system is used as it is.
   */
  serviceInstances?: Record<string, number>;
}

export async function startOrUseSystem(log: (line: string) => void, options: SystemOptions = {}): Promise<BenchSystem> {
  const running = process.env.BENCH_GATEWAY_URL ?? 'http://localhost:4000/graphql';
  const kafka = await ensureKafka({ log: (line) => log(`kafka: ${line}`) });
  const kafkaBrokers = kafka.brokers.join(',');
  if (await healthy(running)) {
    log(`using the running system at ${running} (its TOPIC_PREFIX and DATABASE_URL must match this environment)`);
    return {
      url: running,
      wsUrl: running.replace(/^http/, 'ws'),
      kafkaBrokers,
      databaseUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/gateway',
      topicPrefix: process.env.TOPIC_PREFIX ?? '',
      legacyUrl: legacyDatabaseUrl(),
      moviesTopic: (process.env.TOPIC_PREFIX ?? '') + MOVIES_TOPIC,
      usage: async () => ({ cpu: await cpuSnapshot(undefined, process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/gateway'), requests: {} }),
      stop: () => kafka.stop(),
    };
  }
  const id = randomUUID().slice(0, 8);
  const port = Number(process.env.BENCH_PORT ?? 4100);
  const prefix = `bench-${id}.`;
  // Its own catalog: a database on the legacy PostgreSQL (started if none runs) and a Connect worker on a free
  // port; scripts/start.ts then registers this system's connector on them (CONNECT_URL, LEGACY_DATABASE_URL).
  const legacy = await ensureLegacyDatabase({ log: (line) => log(`legacy-postgres: ${line}`) });
  const legacyUrl = new URL(legacy.url);
  legacyUrl.pathname = `/legacy_bench_${id}`;
  const connect = await ensureConnect({ brokers: kafka.brokers, port: await freePort(), group: `${prefix}connect`, log: (line) => log(`connect: ${line}`) });
  const registry = await ensureSchemaRegistry({ log: (line) => log(`registry: ${line}`) });
  const env = {
    ...process.env,
    SCHEMA_REGISTRY_URL: registry.url,
    LEGACY_DATABASE_URL: legacyUrl.toString(),
    CONNECT_URL: connect.url,
    KAFKA_BROKERS: kafkaBrokers,
    TOPIC_PREFIX: prefix,
    DATABASE_URL: `postgresql://postgres@127.0.0.1:5432/gateway_bench_${id}`,
    PORT: String(port),
    LOG_LEVEL: 'silent',
    KAFKA_REQUEST_STATS_DIR: mkdtempSync(join(tmpdir(), 'bench-requests-')),
    SERVICE_INSTANCES: Object.entries(options.serviceInstances ?? {}).map(([name, n]) => `${name}=${n}`).join(','),
  };
  // Its log goes to a file: a pipe nobody read would fill and stop the system mid-run.
  const logFile = resolve(import.meta.dirname, `../.data/bench/${env.TOPIC_PREFIX.replace(/\.$/, '')}.log`);
  mkdirSync(dirname(logFile), { recursive: true });
  log(`starting a fresh system on port ${port} (topic prefix ${env.TOPIC_PREFIX}${env.SERVICE_INSTANCES ? `, ${env.SERVICE_INSTANCES}` : ''}), its log in ${logFile}`);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '../scripts/start.ts')], {
    env,
    stdio: ['ignore', openSync(logFile, 'a'), 'inherit'],
    detached: true, // its own group, so stopping it reaches every service it started
  });
  const url = `http://localhost:${port}/graphql`;
  const deadline = Date.now() + 120_000;
  try {
    while (!(await healthy(url))) {
      if (child.exitCode !== null) throw new Error(`the system exited with code ${child.exitCode} while starting`);
      if (Date.now() > deadline) throw new Error('the system did not become healthy within 120 s');
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (error) {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    await connect.stop();
    await legacy.stop();
    throw error;
  }
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    kafkaBrokers,
    databaseUrl: env.DATABASE_URL,
    topicPrefix: env.TOPIC_PREFIX,
    legacyUrl: env.LEGACY_DATABASE_URL,
    moviesTopic: prefix + MOVIES_TOPIC,
    usage: async () => ({ cpu: await cpuSnapshot(child.pid, env.DATABASE_URL), requests: requestTotals(env.KAFKA_REQUEST_STATS_DIR) }),
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
      // The connector as scripts/start.ts (ensureCatalogCapture) named it, with its slot and publication.
      const slotName = `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}movies_catalog`.slice(-63);
      await deleteConnector({ connectUrl: connect.url, name: `${prefix}movies-catalog`, legacyUrl: env.LEGACY_DATABASE_URL, slotName }).catch((e: Error) => log(`cleanup: ${e.message}`));
      await connect.stop();
      await dropLegacyDatabase(env.LEGACY_DATABASE_URL).catch(() => {});
      await legacy.stop();
      await dropDatabase(env.DATABASE_URL).catch(() => {});
      await deleteTopicsAndGroups(createKafka('bench-cleanup', [kafkaBrokers]), env.TOPIC_PREFIX).catch(() => {});
      await createSchemaRegistry(registry.url).deleteSubjects(env.TOPIC_PREFIX).catch(() => {});
      await registry.stop();
      await kafka.stop();
      rmSync(env.KAFKA_REQUEST_STATS_DIR, { recursive: true, force: true });
    },
  };
}
