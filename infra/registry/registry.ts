/**
 * The schema registry: Apicurio Registry 3.3.3, resolved by Maven from infra/registry/pom.xml on first use and run on
 * Java 21 or newer. The system speaks its Confluent-compatible API (SCHEMA_REGISTRY_URL, `/apis/ccompat/v7`).
 * Nothing is started when SCHEMA_REGISTRY_URL is set, or when a registry already answers on the port.
 *
 * Its storage is PostgreSQL, a `schema_registry` database on DATABASE_URL's server: it survives a restart, it is ready
 * in about 10 s where KafkaSQL replays its topic for 16–26 s, and it is not kept under a topic prefix, which tests and
 * `npm run chaos` delete with their topics.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { databaseUrl, DEFAULT_SCHEMA_REGISTRY_URL, schemaRegistryUrl } from '../../services/shared/config.ts';
import { keepInForeground, stopProcess } from '../process.ts';

const registryDir = resolve(import.meta.dirname);
const appJar = join(registryDir, 'lib/quarkus-run.jar');
const dataDir = resolve(registryDir, '../../.data/registry');
const DATABASE = 'schema_registry';
const READY_WITHIN_MS = 180_000;

export interface RunningRegistry {
  /** The Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 */
  url: string;
  /** True when this call started the registry (and stop() will end it). */
  started: boolean;
  stop(): Promise<void>;
}

/** Uses SCHEMA_REGISTRY_URL when set, or a registry already answering on 8081; otherwise starts one. */
export async function ensureSchemaRegistry(options: { log?: (line: string) => void } = {}): Promise<RunningRegistry> {
  const log = options.log ?? ((line: string) => console.log(`[registry] ${line}`));
  const url = schemaRegistryUrl();
  if (process.env.SCHEMA_REGISTRY_URL || (await answers(url))) {
    await waitUntilAnswers(url, undefined, 60_000);
    return { url, started: false, stop: async () => {} };
  }
  if (url !== DEFAULT_SCHEMA_REGISTRY_URL) throw new Error(`no schema registry answers on ${url}`);
  if (!existsSync(appJar)) {
    log('resolving Apicurio Registry 3.3.3 from Maven Central (first run only, 159 MB)…');
    const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', join(registryDir, 'pom.xml'), 'dependency:unpack'], { stdio: 'inherit' });
    if (mvn.status !== 0) throw new Error('mvn could not resolve io.apicurio:apicurio-registry-app:3.3.3: check that Maven is installed and Maven Central is reachable');
  }
  const storage = await ensureStorage();
  const child = startRegistry(findJava21(), storage, log);
  await waitUntilAnswers(url, child, READY_WITHIN_MS);
  log(`ready on ${url}`);
  return { url, started: true, stop: () => stopProcess(child) };
}

/** The JDBC settings of the registry's database, created on DATABASE_URL's server when missing. */
async function ensureStorage(): Promise<Record<string, string>> {
  const server = new URL(databaseUrl());
  server.pathname = '/postgres';
  const client = new pg.Client({ connectionString: server.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
  return {
    APICURIO_STORAGE_KIND: 'sql',
    APICURIO_STORAGE_SQL_KIND: 'postgresql',
    APICURIO_DATASOURCE_URL: `jdbc:postgresql://${server.hostname}:${server.port || 5432}/${DATABASE}`,
    APICURIO_DATASOURCE_USERNAME: decodeURIComponent(server.username) || 'postgres',
    APICURIO_DATASOURCE_PASSWORD: decodeURIComponent(server.password),
  };
}

/** A `java` of version 21 or newer: JAVA_HOME's, the one on PATH, or one under /usr/lib/jvm (Java 17 cannot run the registry). */
export function findJava21(): string {
  const candidates = [
    ...(process.env.JAVA_HOME ? [join(process.env.JAVA_HOME, 'bin/java')] : []),
    'java',
    ...(existsSync('/usr/lib/jvm') ? readdirSync('/usr/lib/jvm').sort().reverse().map((jdk) => join('/usr/lib/jvm', jdk, 'bin/java')) : []),
  ];
  for (const java of candidates) {
    const version = spawnSync(java, ['-version'], { encoding: 'utf8' });
    const major = Number(/version "(\d+)/.exec(version.stderr ?? '')?.[1]);
    if (major >= 21) return java;
  }
  throw new Error('the schema registry needs Java 21 or newer, and none was found (JAVA_HOME, PATH, /usr/lib/jvm): install one, e.g. apt-get install openjdk-21-jre-headless');
}

function startRegistry(java: string, storage: Record<string, string>, log: (line: string) => void): ChildProcess {
  mkdirSync(dataDir, { recursive: true });
  const { port } = new URL(DEFAULT_SCHEMA_REGISTRY_URL);
  log(`starting Apicurio Registry on 127.0.0.1:${port} (storage: PostgreSQL database ${DATABASE}), logs in ${dataDir}`);
  const child = spawn(
    java,
    [
      '-Xms64m', '-Xmx384m', '-XX:TieredStopAtLevel=1',
      '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${port}`,
      // Its health endpoints; by default on port 9000 of every interface.
      '-Dquarkus.management.host=127.0.0.1', `-Dquarkus.management.port=${Number(port) + 1}`,
      '-jar', appJar,
    ],
    // Its own process group, as the broker: Ctrl-C reaches the services first; stop() ends the registry.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...storage } },
  );
  const out = createWriteStream(join(dataDir, 'registry.log'), { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

async function waitUntilAnswers(url: string, child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`the schema registry exited with code ${child.exitCode}; see ${join(dataDir, 'registry.log')}`);
    }
    if (await answers(url)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (child) await stopProcess(child);
  throw new Error(`no schema registry answered on ${url} within ${timeoutMs / 1000} s${child ? `; see ${join(dataDir, 'registry.log')}` : ''}`);
}

// `tsx infra/registry/registry.ts` (npm run registry) runs the registry in the foreground until Ctrl-C.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) keepInForeground(await ensureSchemaRegistry());
