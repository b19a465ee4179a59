/**
 * A Kafka Connect worker (Apache Kafka 3.9.1) with Debezium's PostgreSQL connector (3.6.1.Final) and Apicurio's
 * Avro converter (2.6.13.Final), all resolved by Maven from infra/connect/pom.xml, and the connector that captures
 * the legacy catalog's `movies` table: values in Avro, in the schema registry's wire format.
 * Nothing is started when CONNECT_URL is set, or when a worker already answers on the port.
 *
 * The worker runs in distributed mode (a group of one): connectors added over REST, their configs and their
 * source offsets live in Kafka topics, so after a restart the worker resumes every connector by itself from its
 * last committed position, and the rows changed while it was down arrive (they wait in the replication slot).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { CATALOG_CONNECTOR } from '../../services/ratings/contract.ts';
import { kafkaBrokers, schemaRegistryUrl, topicPartitions, topicPrefix } from '../../services/shared/config.ts';
import { CAPTURE_TABLE, ensureLegacyDatabase } from '../legacy-postgres.ts';
import { keepInForeground, stopProcess } from '../process.ts';

const connectDir = resolve(import.meta.dirname);
const runtimeDir = join(connectDir, 'lib/runtime');
const pluginsDir = join(connectDir, 'lib/plugins');
const dataRoot = resolve(connectDir, '../../.data/connect');

/** The topic the connector writes (before TOPIC_PREFIX), and the settings it must be created with. */
export const MOVIES_TOPIC = 'movies';
/**
 * `movies` holds the catalog's latest row per movie id: compacted, so a new consumer still reads the whole catalog
 * and a deleted movie's tombstone eventually removes it. Partitions: as every other topic (keyed by movie id).
 */
const MOVIES_TOPIC_CONFIG: { name: string; value: string }[] = [{ name: 'cleanup.policy', value: 'compact' }];

export interface RunningConnect {
  /** REST base URL, e.g. http://127.0.0.1:8083 */
  url: string;
  /** True when this call started the worker (and stop() will end it). */
  started: boolean;
  /** Stops the worker cleanly: it commits its connectors' offsets first. */
  stop(): Promise<void>;
}

export interface ConnectOptions {
  brokers: string[];
  /** REST port. Default: CONNECT_PORT, else 8083. */
  port?: number;
  /**
   * The worker's group.id; its internal topics are `<group>.configs`, `<group>.offsets`, `<group>.status`.
   * Default: `gateway.connect`. A test gives its own (under its topic prefix) to own its worker outright.
   */
  group?: string;
  log?: (line: string) => void;
}

/** Uses CONNECT_URL when set; otherwise starts (or reuses) the local worker. */
export async function ensureConnect(options: ConnectOptions): Promise<RunningConnect> {
  const log = options.log ?? ((line: string) => console.log(`[connect] ${line}`));
  if (process.env.CONNECT_URL) {
    const url = process.env.CONNECT_URL.replace(/\/$/, '');
    await waitUntilReady(url, undefined, 60_000);
    return { url, started: false, stop: async () => {} };
  }
  const port = options.port ?? Number(process.env.CONNECT_PORT ?? 8083);
  const url = `http://127.0.0.1:${port}`;
  if (await restAnswers(url)) {
    log(`using the Connect worker already running on ${url}`);
    await waitUntilReady(url, undefined, 60_000);
    return { url, started: false, stop: async () => {} };
  }
  resolveConnectJars(log);
  const startedAt = Date.now();
  const child = startWorker(options.brokers, port, options.group ?? 'gateway.connect', log);
  await waitUntilReady(url, child, 90_000);
  log(`worker ready on ${url} in ${Date.now() - startedAt} ms`);
  return { url, started: true, stop: () => stopProcess(child, 20_000) };
}

/** Resolves the worker's and the connector's jars with Maven if they are not there yet. */
function resolveConnectJars(log: (line: string) => void): void {
  const have = (dir: string, prefix: string) => existsSync(dir) && readdirSync(dir).some((f) => f.startsWith(prefix));
  const wanted: [string, string, string][] = [
    ['runtime', runtimeDir, 'connect-runtime-'],
    ['debezium', join(pluginsDir, 'debezium-connector-postgres'), 'debezium-connector-postgres-'],
    ['apicurio', join(pluginsDir, 'apicurio-converter'), 'apicurio-registry-utils-converter-'],
  ];
  const names: Record<string, string> = { runtime: 'Apache Kafka Connect', debezium: "Debezium's PostgreSQL connector", apicurio: "Apicurio Registry's Avro converter" };
  for (const [profile, dir, prefix] of wanted) {
    if (have(dir, prefix)) continue;
    log(`resolving ${names[profile]} from Maven Central (first run only)…`);
    const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', join(connectDir, 'pom.xml'), '-P', profile, 'dependency:copy-dependencies'], {
      stdio: 'inherit',
    });
    if (mvn.status !== 0) {
      throw new Error(`mvn could not resolve ${names[profile]}'s jars: check that Java 17 and Maven are installed and Maven Central is reachable`);
    }
  }
  writeServiceManifest(join(pluginsDir, 'apicurio-converter'), 'org.apache.kafka.connect.storage.Converter', ['io.apicurio.registry.utils.converter.AvroConverter']);
}

/**
 * The worker discovers plugins by their ServiceLoader manifests (plugin.discovery=service_load), and Apicurio's
 * converter jar ships none: without one the worker does not know AvroConverter, and registering the connector
 * fails (a NullPointerException in the REST answer). So the plugin folder gets a jar holding only the manifest, as
 * Kafka's `connect-plugin-path sync-manifests` (KIP-898) would write; `jar` comes with the JDK that Maven needs.
 */
function writeServiceManifest(pluginDir: string, service: string, classes: string[]): void {
  const manifestJar = join(pluginDir, 'service-manifests.jar');
  if (existsSync(manifestJar)) return;
  const staging = join(pluginDir, '.manifests');
  mkdirSync(join(staging, 'META-INF/services'), { recursive: true });
  writeFileSync(join(staging, 'META-INF/services', service), `${classes.join('\n')}\n`);
  const jar = spawnSync('jar', ['--create', '--file', manifestJar, '-C', staging, 'META-INF'], { stdio: 'inherit' });
  rmSync(staging, { recursive: true, force: true });
  if (jar.status !== 0) throw new Error(`could not write ${manifestJar} with the JDK's jar tool: check that a JDK (not only a JRE) is on PATH`);
}

function startWorker(brokers: string[], port: number, group: string, log: (line: string) => void): ChildProcess {
  const dataDir = join(dataRoot, String(port));
  mkdirSync(dataDir, { recursive: true });
  const config = join(dataDir, 'worker.properties');
  writeFileSync(
    config,
    [
      `bootstrap.servers=${brokers.join(',')}`,
      `group.id=${group}`,
      `config.storage.topic=${group}.configs`,
      `offset.storage.topic=${group}.offsets`,
      `status.storage.topic=${group}.status`,
      'config.storage.replication.factor=1',
      'offset.storage.replication.factor=1',
      'offset.storage.partitions=1',
      'status.storage.replication.factor=1',
      'status.storage.partitions=1',
      `listeners=http://127.0.0.1:${port}`,
      'rest.advertised.host.name=127.0.0.1',
      `rest.advertised.port=${port}`,
      `plugin.path=${pluginsDir}`,
      // Reads the plugins' ServiceLoader manifests instead of scanning every class: RUNNING in ~3 s instead of ~8.
      'plugin.discovery=service_load',
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable=false',
      'value.converter.schemas.enable=false',
      // Offsets (and so Debezium's confirmed LSN) every second: after a crash, at most ~1 s of changes arrive twice.
      'offset.flush.interval.ms=1000',
      // A group of one: a restarted worker must take its connectors back now, not after the default 5 minutes.
      'scheduled.rebalance.max.delay.ms=0',
    ].join('\n') + '\n',
  );
  writeFileSync(
    join(dataDir, 'log4j.properties'),
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${join(dataDir, 'connect.log')}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.io.debezium=INFO',
      'log4j.logger.org.apache.kafka.connect.runtime.Worker=INFO',
    ].join('\n') + '\n',
  );
  log(`starting Kafka Connect (distributed, group ${group}) on 127.0.0.1:${port}, logs in ${dataDir}`);
  const child = spawn(
    'java',
    [
      '-Xms128m', '-Xmx512m', '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${join(dataDir, 'log4j.properties')}`,
      '-cp', `${runtimeDir}/*`, 'org.apache.kafka.connect.cli.ConnectDistributed', config,
    ],
    // Its own process group, as the broker: Ctrl-C reaches the services first; stop() ends the worker.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const out = createWriteStream(join(dataDir, 'stdout.log'), { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}

async function restAnswers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/`, { signal: AbortSignal.timeout(1500) });
    return true;
  } catch {
    return false;
  }
}

/** Ready = the worker has joined its group and can take connectors (GET /health, KIP-1017, answers 200). */
async function waitUntilReady(url: string, child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`Kafka Connect exited with code ${child.exitCode}; see .data/connect/*/connect.log and stdout.log`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (child) await stopProcess(child, 20_000);
  throw new Error(`Kafka Connect on ${url} was not ready within ${timeoutMs} ms (last answer: ${last})`);
}

// ---- the movies connector ----

export interface MoviesConnector {
  /** REST base URL of the Connect worker. */
  connectUrl: string;
  /** Connector name; also names Debezium's topic.prefix. */
  name: string;
  /** The legacy catalog, as the *worker* reaches it (postgresql://user[:password]@host:port/db). */
  legacyUrl: string;
  /** The exact physical topic the changes land on: TOPIC_PREFIX + MOVIES_TOPIC. */
  topic: string;
  /** Replication slot, unique per connector on one PostgreSQL instance; the publication is named after it. */
  slotName: string;
  /** Partitions of the topic if the worker has to create it. Default: TOPIC_PARTITIONS, else 6. */
  partitions?: number;
  /** How long to wait for the connector and its task to be RUNNING, in ms. Default: 60000. */
  timeoutMs?: number;
  /**
   * The schema registry's Confluent-compatible API as the *worker* reaches it. Default: SCHEMA_REGISTRY_URL, else
   * http://127.0.0.1:8081/apis/ccompat/v7 (services/shared/config.ts). The converter talks to the same Apicurio
   * Registry through its own v2 API.
   */
  registryUrl?: string;
}

/**
 * Apicurio's `/apis/registry/v2` beside its `/apis/ccompat/v7`: the converter (2.6.x, the last line published)
 * speaks only v2, which Apicurio Registry 3 still serves. Its artifacts are the ccompat subjects, its content ids
 * the ccompat schema ids.
 */
export function apicurioV2Url(registryUrl: string): string {
  const url = registryUrl.replace(/\/$/, '');
  if (!url.endsWith('/apis/ccompat/v7')) {
    throw new Error(
      `the schema registry URL ${url} is not Apicurio's /apis/ccompat/v7: the movies connector's converter needs Apicurio Registry; set SCHEMA_REGISTRY_URL to http://<host>:<port>/apis/ccompat/v7`,
    );
  }
  return `${url.slice(0, -'/apis/ccompat/v7'.length)}/apis/registry/v2`;
}

/**
 * The Debezium PostgreSQL connector's configuration (exported for docker-compose docs and tests). It captures
 * `public.movies_capture`, the legacy rows bounded to what the system keeps (infra/legacy-postgres.ts), never the
 * raw `movies`: one change larger than the producer's max.request.size (1 MiB) would fail the task, again after
 * every restart, and errors.tolerance=all would drop it with only a line in the worker's log.
 */
export function moviesConnectorConfig(options: Omit<MoviesConnector, 'connectUrl' | 'timeoutMs'>): Record<string, string> {
  const registry = apicurioV2Url(options.registryUrl ?? schemaRegistryUrl());
  const db = new URL(options.legacyUrl);
  const topicPrefix = options.name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'database.hostname': db.hostname,
    'database.port': db.port || '5432',
    'database.user': decodeURIComponent(db.username) || 'postgres',
    'database.password': decodeURIComponent(db.password),
    'database.dbname': decodeURIComponent(db.pathname.slice(1)),
    'topic.prefix': topicPrefix,
    'plugin.name': 'pgoutput',
    'slot.name': options.slotName,
    'publication.name': options.slotName,
    // The connector creates its own publication, for its table only.
    'publication.autocreate.mode': 'filtered',
    'table.include.list': `public.${CAPTURE_TABLE}`,
    // First start: the whole table, then the stream; later starts resume from the committed offset.
    'snapshot.mode': 'initial',
    'poll.interval.ms': '50',
    // A delete is a delete event (`before` holds the key) followed by a tombstone for compaction.
    'tombstones.on.delete': 'true',
    // The key stays the bare id as JSON text (`362`): a key's bytes choose the movie's partition and name it for
    // compaction, so they must not change with the value's encoding (a movie keyed anew would keep its old record
    // forever beside the new one), and the ratings domain reads ids beyond 2^53 exactly from that text.
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': 'false',
    // The value in Avro, in the Confluent wire format (magic byte 0, the schema's 4-byte content id, the record):
    // the ratings domain decodes it by id, with the writer's schema from the registry (services/ratings/catalog-change.ts).
    'value.converter': 'io.apicurio.registry.utils.converter.AvroConverter',
    'value.converter.apicurio.registry.url': registry,
    // The schema is registered under `<topic>-value` (the default TopicIdStrategy) whenever Debezium's changes.
    'value.converter.apicurio.registry.auto-register': 'true',
    'value.converter.apicurio.registry.find-latest': 'true',
    // The id in the value, not in Apicurio's own headers, and as Confluent's 4 bytes: a content id, which is what
    // the ccompat API's /schemas/ids/{id} answers.
    'value.converter.apicurio.registry.headers.enabled': 'false',
    'value.converter.apicurio.registry.as-confluent': 'true',
    'value.converter.apicurio.registry.use-id': 'contentId',
    // Debezium names its schemas after topic.prefix (`<prefix>.public.movies_capture.Envelope`), and a prefix may
    // hold characters an Avro name may not ('-'): replaced with '_', or the converter refuses every change.
    'schema.name.adjustment.mode': 'avro',
    // Debezium names the topic <topic.prefix>.public.movies_capture; route it to the system's topic, and key by id alone.
    transforms: 'route,key',
    'transforms.route.type': 'org.apache.kafka.connect.transforms.RegexRouter',
    'transforms.route.regex': `^${topicPrefix.replace(/[.\\]/g, '\\$&')}\\.public\\.${CAPTURE_TABLE}$`,
    'transforms.route.replacement': options.topic,
    'transforms.key.type': 'org.apache.kafka.connect.transforms.ExtractField$Key',
    'transforms.key.field': 'id',
    // The system creates its topics itself (the broker never auto-creates); should the connector start first,
    // the worker creates `movies` the same way rather than failing its task.
    'topic.creation.default.partitions': String(options.partitions ?? topicPartitions()),
    'topic.creation.default.replication.factor': '-1',
    ...Object.fromEntries(MOVIES_TOPIC_CONFIG.map(({ name, value }) => [`topic.creation.default.${name}`, value])),
  };
}

/**
 * Creates or updates the connector (PUT is idempotent) and waits until it and its task are RUNNING. A connector
 * an earlier version registered on the raw `movies` table, or with JSON values, is removed first (with its offsets,
 * slot and publication), so the new one starts with a snapshot of the bounded table: the same movies again, which
 * consumers take as upserts by id. A delete that old connector had not sent yet (it may have stopped on an oversized row) is
 * lost with its slot: that movie stays in the system; insert and delete its row again to remove it.
 */
export async function registerMoviesConnector(options: MoviesConnector): Promise<void> {
  const { connectUrl, name } = options;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const config = moviesConnectorConfig(options);
  const existing = await fetch(`${connectUrl}/connectors/${encodeURIComponent(name)}/config`);
  // The movies topic is compacted: a switch of encoding would leave every unchanged movie in the old one. So a
  // connector of another table or another value converter starts over with a snapshot, every movie written anew.
  const restart = ['table.include.list', 'value.converter'];
  const current = existing.ok ? ((await existing.json()) as Record<string, string>) : undefined;
  if (current && restart.some((key) => current[key] !== config[key])) {
    await deleteConnector({ connectUrl, name, legacyUrl: options.legacyUrl, slotName: options.slotName });
  }
  // 409: the worker is rebalancing (just started, or a connector was just added); it answers once it is done.
  for (;;) {
    const response = await fetch(`${connectUrl}/connectors/${encodeURIComponent(name)}/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    if (response.ok) break;
    const body = await response.text();
    // Connect 3.9 answers a config that fails validation (the database unreachable, say) with a NullPointerException.
    const hint = body.includes('ConfigInfo.configValue()') ? ` (Connect's answer when the config fails validation: is the legacy PostgreSQL at ${new URL(options.legacyUrl).host} up? the worker's log says more)` : '';
    if (response.status !== 409 || Date.now() > deadline) throw new Error(`Kafka Connect refused connector ${name}: ${response.status} ${body}${hint}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitForConnector(connectUrl, name, deadline - Date.now());
}

/** Waits until the connector and all its tasks are RUNNING (e.g. after a worker restart); fails fast on FAILED. */
export async function waitForConnector(connectUrl: string, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no status yet';
  while (Date.now() < deadline) {
    const response = await fetch(`${connectUrl}/connectors/${encodeURIComponent(name)}/status`).catch((error: Error) => error);
    if (response instanceof Error) {
      last = response.message;
    } else if (response.ok) {
      const status = (await response.json()) as { connector: { state: string; trace?: string }; tasks: { id: number; state: string; trace?: string }[] };
      const failed = [status.connector, ...status.tasks].find((s) => s.state === 'FAILED');
      if (failed) throw new Error(`connector ${name} FAILED: ${failed.trace?.split('\n').slice(0, 3).join(' ') ?? 'no trace'}`);
      if (status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING')) return;
      last = JSON.stringify({ connector: status.connector.state, tasks: status.tasks.map((t) => t.state) });
    } else {
      last = `${response.status}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`connector ${name} was not RUNNING in time (last status: ${last})`);
}

/**
 * Removes the connector, its source offsets, its replication slot and its publication: nothing of it is left
 * on the worker or the database (a slot left behind would keep WAL forever).
 */
export async function deleteConnector(options: { connectUrl: string; name: string; legacyUrl: string; slotName: string }): Promise<void> {
  const base = `${options.connectUrl}/connectors/${encodeURIComponent(options.name)}`;
  const exists = (await fetch(base)).ok;
  if (exists) {
    // Stopped first, so its offsets can be reset (KIP-875): a connector created later under the same name starts
    // with a snapshot instead of resuming from an LSN its dropped slot no longer holds.
    await fetch(`${base}/stop`, { method: 'PUT' });
    await retry(async () => {
      const response = await fetch(`${base}/offsets`, { method: 'DELETE' });
      if (!response.ok) throw new Error(`resetting offsets of ${options.name}: ${response.status} ${await response.text()}`);
    }, 15_000).catch(() => {}); // best effort: the connector goes either way
    const response = await fetch(base, { method: 'DELETE' });
    if (!response.ok && response.status !== 404) throw new Error(`deleting connector ${options.name}: ${response.status} ${await response.text()}`);
  }
  const client = new pg.Client({ connectionString: options.legacyUrl });
  await client.connect();
  try {
    // The task's WAL sender may outlive the connector for a moment; a slot in use cannot be dropped.
    await retry(async () => {
      await client.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [options.slotName]);
      await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [options.slotName]);
    }, 15_000);
    await client.query(`DROP PUBLICATION IF EXISTS "${options.slotName.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
}

async function retry(action: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await action();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export interface RunningCatalogCapture {
  legacyUrl: string;
  connectUrl: string;
  /** The physical topic the catalog's changes land on. */
  topic: string;
  /** Stops what this call started (the worker, then the legacy PostgreSQL); the connector stays registered. */
  stop(): Promise<void>;
}

/**
 * What `npm start` needs for the catalog: the legacy PostgreSQL, a Connect worker, and this system's movies
 * connector (named after TOPIC_PREFIX, so several systems on one worker each have their own slot and topic).
 */
export async function ensureCatalogCapture(options: { brokers?: string[]; log?: (line: string) => void } = {}): Promise<RunningCatalogCapture> {
  const legacy = await ensureLegacyDatabase({ log: options.log && ((line) => options.log!(`[legacy-postgres] ${line}`)) });
  try {
    const connect = await ensureConnect({ brokers: options.brokers ?? kafkaBrokers(), log: options.log && ((line) => options.log!(`[connect] ${line}`)) });
    const prefix = topicPrefix();
    const topic = prefix + MOVIES_TOPIC;
    // The worker reaches the catalog at the same address as we do (docker-compose: both on its network).
    await registerMoviesConnector({
      connectUrl: connect.url,
      name: prefix + CATALOG_CONNECTOR,
      legacyUrl: legacy.url,
      topic,
      slotName: `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}movies_catalog`.slice(-63),
    });
    return {
      legacyUrl: legacy.url,
      connectUrl: connect.url,
      topic,
      async stop() {
        await connect.stop();
        await legacy.stop();
      },
    };
  } catch (error) {
    await legacy.stop();
    throw error;
  }
}

// `tsx infra/connect/connect.ts` runs the worker in the foreground until Ctrl-C; with `register` (docker-compose's
// catalog-capture, where CONNECT_URL and LEGACY_DATABASE_URL are set) it prepares the catalog, registers this
// system's connector and exits.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename) && process.argv[2] === 'register') {
  const capture = await ensureCatalogCapture({ log: (line) => console.log(line) });
  console.log(`[connect] capturing ${capture.legacyUrl} movies into ${capture.topic}`);
  await capture.stop();
} else if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  keepInForeground(await ensureConnect({ brokers: kafkaBrokers() }));
}
