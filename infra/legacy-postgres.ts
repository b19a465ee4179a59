/**
 * The legacy catalog: a PostgreSQL database the services never query, captured by Debezium (infra/connect/).
 * Change data capture needs wal_level=logical, which the machine's PostgreSQL on 5432 does not have and must not
 * be restarted for, so unless LEGACY_DATABASE_URL is set this starts the project's own instance (Debian's
 * PostgreSQL binaries, data under .data/) on 5433, just as infra/kafka/broker.ts starts Kafka.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, appendFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import { CATALOG_BOUNDS } from '../services/ratings/catalog-change.ts';
import { keepInForeground } from './process.ts';

const projectRoot = resolve(import.meta.dirname, '..');
const preferredDataDir = join(projectRoot, '.data/legacy-postgres');

export interface RunningLegacyDatabase {
  /** Connection string of the catalog database (`legacy` unless LEGACY_DATABASE_URL names another). */
  url: string;
  /** True when this call started the instance (and stop() will end it). */
  started: boolean;
  stop(): Promise<void>;
}

export interface LegacyDatabaseOptions {
  /** Port of the project's own instance. Default: LEGACY_POSTGRES_PORT, else 5433. */
  port?: number;
  log?: (line: string) => void;
}

/** The catalog's connection string. Default: the project's own instance, `postgresql://postgres@127.0.0.1:5433/legacy`. */
export function legacyDatabaseUrl(port = legacyPostgresPort()): string {
  return process.env.LEGACY_DATABASE_URL ?? `postgresql://postgres@127.0.0.1:${port}/legacy`;
}

function legacyPostgresPort(): number {
  return Number(process.env.LEGACY_POSTGRES_PORT ?? 5433);
}

/**
 * Uses LEGACY_DATABASE_URL when set (starts nothing); otherwise reuses the instance answering on the port, or
 * creates and starts one. Either way the catalog database exists afterwards, with `movies` seeded when empty.
 */
export async function ensureLegacyDatabase(options: LegacyDatabaseOptions = {}): Promise<RunningLegacyDatabase> {
  const log = options.log ?? ((line: string) => console.log(`[legacy-postgres] ${line}`));
  const port = options.port ?? legacyPostgresPort();
  const url = process.env.LEGACY_DATABASE_URL ?? `postgresql://postgres@127.0.0.1:${port}/legacy`;
  if (process.env.LEGACY_DATABASE_URL) {
    await createLegacyDatabase(url);
    return { url, started: false, stop: async () => {} };
  }
  if (await answers(adminUrl(url))) {
    log(`using the PostgreSQL already running on 127.0.0.1:${port}`);
    await createLegacyDatabase(url);
    return { url, started: false, stop: async () => {} };
  }
  const dataDir = chooseDataDir(log);
  startInstance(dataDir, port, log);
  await createLegacyDatabase(url);
  log(`PostgreSQL (wal_level=logical) ready on 127.0.0.1:${port}, data in ${dataDir}`);
  return {
    url,
    started: true,
    stop: async () => {
      runAsServerUser(pgBin('pg_ctl'), ['-D', join(dataDir, 'pgdata'), '-m', 'fast', '-w', 'stop']);
    },
  };
}

/**
 * Creates the database named by `url` if missing, the `movies` table and the bounded copy Debezium captures
 * (prepareCaptureTable), and seeds the catalog when it is empty.
 */
export async function createLegacyDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const admin = new pg.Client({ connectionString: adminUrl(url) });
  await admin.connect().catch((error: Error) => {
    throw new Error(`cannot reach the legacy PostgreSQL at ${new URL(url).host} (${error.message}): start it (npm run legacy-db) or set LEGACY_DATABASE_URL`);
  });
  try {
    const { rows } = await admin.query<{ wal_level: string }>('SHOW wal_level');
    if (rows[0].wal_level !== 'logical') {
      throw new Error(`the legacy PostgreSQL at ${new URL(url).host} has wal_level=${rows[0].wal_level}; change data capture needs wal_level=logical (unset LEGACY_DATABASE_URL to use the project's own instance)`);
    }
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await admin.query(`CREATE DATABASE "${name}"`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created concurrently: fine
      });
    }
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    // Two processes preparing the same catalog at once must not both seed it.
    await client.query('SELECT pg_advisory_xact_lock(362)');
    await client.query(`CREATE TABLE IF NOT EXISTS movies (
      id bigint PRIMARY KEY,
      title text NOT NULL,
      release_year int,
      country text,
      genres text[] NOT NULL DEFAULT '{}'
    )`);
    await prepareCaptureTable(client);
    const { rowCount } = await client.query('SELECT 1 FROM movies LIMIT 1');
    if (!rowCount) {
      await client.query(
        `INSERT INTO movies (id, title, release_year, country, genres)
         SELECT (m->>'id')::bigint, m->>'title', (m->>'releaseYear')::int, m->>'country',
                ARRAY(SELECT jsonb_array_elements_text(m->'genres'))
         FROM jsonb_array_elements($1::jsonb) AS m`,
        [JSON.stringify(catalogSeed())],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

/** The table Debezium captures instead of `movies`: each legacy row bounded to what the system keeps. */
export const CAPTURE_TABLE = 'movies_capture';

/**
 * The legacy table holds text of any length and arrays of any size, but one change larger than Kafka Connect's
 * producer takes (max.request.size, 1 MiB) fails the connector's task, and it fails again on the same change after
 * every restart: capture stops for good. So Debezium captures `movies_capture` instead, which a trigger keeps equal
 * to `movies` with every row bounded to CATALOG_BOUNDS (title, country, the number and length of genres) in the
 * same transaction as the legacy write. No row is ever too large to capture and none is left out: a row that was
 * cut says so in `reduced` (`SELECT id, reduced FROM movies_capture WHERE reduced IS NOT NULL` lists them), which
 * reaches the system with the change. Its REPLICA IDENTITY stays DEFAULT: a delete's `before` is the key alone,
 * and an update carries no old row.
 *
 * Created once with the rows `movies` already has, in the transaction that creates its trigger (which locks out
 * writes to `movies` until it commits, so no change falls between). The functions are replaced on every call, so
 * new bounds apply to the writes after it.
 */
async function prepareCaptureTable(client: pg.Client): Promise<void> {
  const { titleChars, countryChars, genres, genreChars } = CATALOG_BOUNDS;
  const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('${CAPTURE_TABLE}') IS NOT NULL AS exists`);
  const created = !rows[0].exists;
  if (created) {
    await client.query(`CREATE TABLE ${CAPTURE_TABLE} (
      id bigint PRIMARY KEY,
      title text NOT NULL,
      release_year int,
      country text,
      genres text[] NOT NULL,
      reduced text[]
    )`);
  }
  // The legacy table itself is no longer captured: its WAL need not carry whole old rows (an earlier version set FULL).
  await client.query('ALTER TABLE movies REPLICA IDENTITY DEFAULT');
  await client.query(`CREATE OR REPLACE FUNCTION ${CAPTURE_TABLE}_row(m movies) RETURNS ${CAPTURE_TABLE} LANGUAGE plpgsql AS $$
    DECLARE
      all_genres text[] := ARRAY(SELECT g FROM unnest(m.genres) WITH ORDINALITY AS u(g, n) WHERE g IS NOT NULL ORDER BY n);
      kept text[] := all_genres[1:${genres}];
      longest int := (SELECT max(char_length(g)) FROM unnest(kept) AS g);
      cut text[] := '{}';
    BEGIN
      IF char_length(m.title) > ${titleChars} THEN cut := cut || format('title: %s characters, kept %s', char_length(m.title), ${titleChars}); END IF;
      IF char_length(m.country) > ${countryChars} THEN cut := cut || format('country: %s characters, kept %s', char_length(m.country), ${countryChars}); END IF;
      IF cardinality(all_genres) > ${genres} THEN cut := cut || format('genres: %s, kept %s', cardinality(all_genres), ${genres}); END IF;
      IF longest > ${genreChars} THEN cut := cut || format('genre characters: the longest %s, kept %s', longest, ${genreChars}); END IF;
      RETURN ROW(m.id, left(m.title, ${titleChars}), m.release_year, left(m.country, ${countryChars}),
                 ARRAY(SELECT left(g, ${genreChars}) FROM unnest(kept) WITH ORDINALITY AS u(g, n) ORDER BY n),
                 NULLIF(cut, '{}'))::${CAPTURE_TABLE};
    END $$`);
  // A write that changes nothing the system keeps changes no captured row, so it sends no change.
  await client.query(`CREATE OR REPLACE FUNCTION ${CAPTURE_TABLE}_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.id <> NEW.id) THEN
        DELETE FROM ${CAPTURE_TABLE} WHERE id = OLD.id;
      END IF;
      IF TG_OP <> 'DELETE' THEN
        INSERT INTO ${CAPTURE_TABLE} SELECT * FROM ${CAPTURE_TABLE}_row(NEW)
        ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, release_year = EXCLUDED.release_year, country = EXCLUDED.country,
          genres = EXCLUDED.genres, reduced = EXCLUDED.reduced
        WHERE (${CAPTURE_TABLE}.*) IS DISTINCT FROM (EXCLUDED.*);
      END IF;
      RETURN NULL;
    END $$`);
  await client.query(`CREATE OR REPLACE FUNCTION ${CAPTURE_TABLE}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN TRUNCATE ${CAPTURE_TABLE}; RETURN NULL; END $$`);
  // DROP and CREATE rather than CREATE OR REPLACE TRIGGER, which needs PostgreSQL 14.
  await client.query(`DROP TRIGGER IF EXISTS ${CAPTURE_TABLE} ON movies`);
  await client.query(`CREATE TRIGGER ${CAPTURE_TABLE} AFTER INSERT OR UPDATE OR DELETE ON movies FOR EACH ROW EXECUTE FUNCTION ${CAPTURE_TABLE}_sync()`);
  await client.query(`DROP TRIGGER IF EXISTS ${CAPTURE_TABLE}_truncate ON movies`);
  await client.query(`CREATE TRIGGER ${CAPTURE_TABLE}_truncate AFTER TRUNCATE ON movies FOR EACH STATEMENT EXECUTE FUNCTION ${CAPTURE_TABLE}_truncate()`);
  if (created) await client.query(`INSERT INTO ${CAPTURE_TABLE} SELECT c.* FROM movies m CROSS JOIN LATERAL ${CAPTURE_TABLE}_row(m) c`);
}

/**
 * Drops a database made by createLegacyDatabase, with the replication slots that still point at it (PostgreSQL
 * refuses to drop a database a logical slot belongs to).
 */
export async function dropLegacyDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const admin = new pg.Client({ connectionString: adminUrl(url) });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL', [name]);
    await retry(() => admin.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1', [name]));
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export interface Movie {
  id: number;
  title: string;
  releaseYear: number;
  country: string;
  genres: string[];
}

/** Films anyone recognizes, at fixed ids, so tests and demos can name one. */
const WELL_KNOWN: Movie[] = [
  { id: 362, title: 'Lethal Weapon', releaseYear: 1987, country: 'US', genres: ['Action', 'Crime'] },
  { id: 11, title: 'Star Wars', releaseYear: 1977, country: 'US', genres: ['Adventure', 'Science Fiction'] },
  { id: 129, title: 'Spirited Away', releaseYear: 2001, country: 'JP', genres: ['Animation', 'Fantasy'] },
  { id: 194, title: 'Amélie', releaseYear: 2001, country: 'FR', genres: ['Comedy', 'Romance'] },
  { id: 603, title: 'The Matrix', releaseYear: 1999, country: 'US', genres: ['Action', 'Science Fiction'] },
  { id: 680, title: 'Pulp Fiction', releaseYear: 1994, country: 'US', genres: ['Crime', 'Thriller'] },
  { id: 862, title: 'Toy Story', releaseYear: 1995, country: 'US', genres: ['Animation', 'Family', 'Comedy'] },
  { id: 1018, title: 'Das Boot', releaseYear: 1981, country: 'DE', genres: ['Drama', 'War'] },
];

const ADJECTIVES = ['Silent', 'Crimson', 'Last', 'Hidden', 'Broken', 'Golden', 'Midnight', 'Frozen', 'Distant', 'Wild', 'Lost', 'Burning', 'Iron', 'Quiet', 'Electric', 'Hollow'];
const NOUNS = ['River', 'Harbor', 'Kingdom', 'Witness', 'Summer', 'Machine', 'Garden', 'Frontier', 'Signal', 'Orchard', 'Empire', 'Lighthouse', 'Stranger', 'Voyage', 'Canyon', 'Promise'];
const SUFFIXES = ['', '', '', ' II', ' III', ': Redemption', ': The Return', ' Rising'];
const COUNTRIES = ['US', 'GB', 'FR', 'DE', 'IT', 'ES', 'JP', 'KR', 'IN', 'BR', 'MX', 'SE', 'DK', 'CA', 'AU', 'NG'];
const GENRES = ['Action', 'Adventure', 'Animation', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Family', 'Fantasy', 'Horror', 'Romance', 'Science Fiction', 'Thriller', 'War', 'Western'];
/** Ids 1..CATALOG_SIZE: the well-known films at theirs, generated ones everywhere else. */
const CATALOG_SIZE = 1200;

/** The deterministic seed of the catalog: the same 1,200 movies on every call and every machine. */
export function catalogSeed(): Movie[] {
  const random = mulberry32(0x1987_0362);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const known = new Map(WELL_KNOWN.map((m) => [m.id, m]));
  const movies: Movie[] = [];
  for (let id = 1; id <= CATALOG_SIZE; id++) {
    // Draw for every id, well-known or not, so adding a famous film does not reshuffle the others.
    const generated: Movie = {
      id,
      title: `The ${pick(ADJECTIVES)} ${pick(NOUNS)}${pick(SUFFIXES)}`,
      releaseYear: 1930 + Math.floor(random() * 95),
      country: pick(COUNTRIES),
      genres: [...new Set([pick(GENRES), pick(GENRES), pick(GENRES)].slice(0, 1 + Math.floor(random() * 3)))],
    };
    movies.push(known.get(id) ?? generated);
  }
  return movies;
}

/** A small seeded PRNG: the catalog must not depend on Math.random or the platform. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`unsupported database name in LEGACY_DATABASE_URL: "${name}"`);
  return name;
}

function adminUrl(url: string): string {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return admin.toString();
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function retry<T>(action: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// ---- the project's own instance ----

const isRoot = () => process.getuid?.() === 0;
/** PostgreSQL refuses to run as root; when we are root it runs as this user. */
const SERVER_USER = 'postgres';

/** Debian's server binaries (newest major installed), else whatever is on PATH. */
function pgBin(tool: string): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const majors = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', tool))).sort((a, b) => Number(b) - Number(a));
    if (majors.length) return join(base, majors[0], 'bin', tool);
  }
  return tool;
}

function runAsServerUser(command: string, args: string[]): { status: number | null; output: string } {
  const [file, argv] = isRoot() ? ['runuser', ['-u', SERVER_USER, '--', command, ...args]] : [command, args];
  const result = spawnSync(file, argv, { encoding: 'utf8', cwd: '/' });
  if (result.error) throw new Error(`cannot run ${command}: ${result.error.message} (install Debian's postgresql package)`);
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/**
 * .data/legacy-postgres when the server's user can reach it. A checkout under a root-only home (/root is 0700)
 * is not reachable by `postgres`; the data then goes to /var/tmp, named after the checkout so two checkouts
 * never share an instance's files.
 */
function chooseDataDir(log: (line: string) => void): string {
  if (!isRoot()) {
    mkdirSync(preferredDataDir, { recursive: true, mode: 0o700 });
    return preferredDataDir;
  }
  const { uid, gid } = serverUserIds();
  for (const dir of [preferredDataDir, join('/var/tmp', `legacy-postgres-${createHash('sha256').update(projectRoot).digest('hex').slice(0, 12)}`)]) {
    mkdirSync(dir, { recursive: true });
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
    if (runAsServerUser('test', ['-w', dir, '-a', '-x', dir]).status === 0) {
      if (dir !== preferredDataDir) log(`the ${SERVER_USER} user cannot reach ${preferredDataDir}; keeping the legacy PostgreSQL data in ${dir} instead`);
      return dir;
    }
  }
  throw new Error(`no data directory the ${SERVER_USER} user can write: set LEGACY_DATABASE_URL to an existing PostgreSQL with wal_level=logical`);
}

function serverUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, SERVER_USER], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`no "${SERVER_USER}" user to run PostgreSQL as: install Debian's postgresql package, or set LEGACY_DATABASE_URL`);
  return { uid, gid: id('-g') };
}

function startInstance(dataDir: string, port: number, log: (line: string) => void): void {
  const pgdata = join(dataDir, 'pgdata');
  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    log(`initializing a PostgreSQL cluster in ${pgdata}`);
    const init = runAsServerUser(pgBin('initdb'), ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C']);
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.output}`);
    // Appended last, so these win over initdb's defaults; written once, as the cluster is created.
    appendFileSync(
      join(pgdata, 'postgresql.conf'),
      [
        '',
        '# legacy catalog for change data capture (infra/legacy-postgres.ts)',
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dataDir}'`,
        'wal_level = logical',
        // One slot and one WAL sender per connector: room for many isolated systems and test files at once.
        'max_replication_slots = 32',
        'max_wal_senders = 32',
        'max_connections = 200',
        'fsync = off', // a disposable development catalog; its source of truth is this file's seed
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(pgdata, 'pg_hba.conf'),
      ['local all all trust', 'host all all 127.0.0.1/32 trust', 'local replication all trust', 'host replication all 127.0.0.1/32 trust', ''].join('\n'),
    );
  }
  log(`starting PostgreSQL on 127.0.0.1:${port} as ${isRoot() ? SERVER_USER : userInfo().username}`);
  const start = runAsServerUser(pgBin('pg_ctl'), ['-D', pgdata, '-l', join(dataDir, 'server.log'), '-o', `-p ${port}`, '-w', '-t', '60', 'start']);
  if (start.status !== 0) throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}:\n${start.output}\n(see ${join(dataDir, 'server.log')})`);
}

// `tsx infra/legacy-postgres.ts` starts (or reuses) the instance, prepares the catalog and keeps it up until Ctrl-C.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const legacy = await ensureLegacyDatabase();
  console.log(`[legacy-postgres] catalog at ${legacy.url}`);
  keepInForeground(legacy);
}
