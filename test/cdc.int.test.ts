/**
 * Change data capture of the legacy catalog, end to end on real infrastructure: the project's own PostgreSQL
 * (wal_level=logical), a Kafka Connect worker with Debezium's PostgreSQL connector, and the shared broker.
 * The legacy instance comes from test/support/global-setup.ts; this file owns its worker (own port and group)
 * so it can stop and restart it; its catalog database, slot, publication and topics are its own too, and are
 * removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  deleteConnector,
  ensureConnect,
  MOVIES_TOPIC,
  moviesConnectorConfig,
  registerMoviesConnector,
  waitForConnector,
  type RunningConnect,
} from '../infra/connect/connect.ts';
import { createLegacyDatabase, dropLegacyDatabase } from '../infra/legacy-postgres.ts';
import { CATALOG_BOUNDS, decodeMovieChange } from '../services/ratings/catalog-change.ts';
import { avroOf } from '../services/shared/avro.ts';
import { ensureTopics } from '../services/shared/bus.ts';
import { createSchemaRegistry, subjectOf } from '../services/shared/schemas.ts';
import { createSchemaIds } from '../services/shared/wire.ts';
import { freePort, waitFor } from './support/system.ts';

interface Received {
  key: string;
  /** Debezium's change event, decoded by its schema id (longs as bigints); null for a tombstone. */
  value: { op: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null } | null;
  /** The value as it was on the log. */
  raw: Buffer | null;
  /** The schema id the value names. */
  schemaId: number | undefined;
  partition: number;
  at: number;
}

const id = randomUUID().slice(0, 8);
const prefix = `test-${id}.`;
const topic = `${prefix}${MOVIES_TOPIC}`;
const group = `${prefix}connect`;
const connectorName = `test-${id}-movies`;
const slotName = `test_${id}_movies`;
const log = process.env.TEST_LOGS ? (line: string) => console.log(line) : () => {};

let catalogUrl: string;
let connect: RunningConnect;
let connectPort: number;
let kafka: Kafka;
let consumer: Consumer;
let db: pg.Client;
const received: Received[] = [];
const registry = createSchemaRegistry();
const ids = createSchemaIds(registry);

const messagesFor = (key: number | string) => received.filter((m) => m.key === String(key));

function startWorker(): Promise<RunningConnect> {
  return ensureConnect({ brokers: inject('kafkaBrokers').split(','), port: connectPort, group, log });
}

beforeAll(async () => {
  const url = new URL(inject('legacyDatabaseUrl'));
  url.pathname = `/legacy_test_${id}`;
  catalogUrl = url.toString();
  await createLegacyDatabase(catalogUrl);
  db = new pg.Client({ connectionString: catalogUrl });
  await db.connect();

  kafka = new Kafka({ clientId: 'cdc-test', brokers: inject('kafkaBrokers').split(','), logLevel: logLevel.NOTHING });
  // As set-up creates it: kafkajs's own wait for leaders gave up on a broker that did not know the new topic yet.
  await ensureTopics(kafka, new Map([[MOVIES_TOPIC, { compacted: true }]]), prefix, 6);

  connectPort = await freePort();
  const startedAt = Date.now();
  connect = await startWorker();
  await registerMoviesConnector({ connectUrl: connect.url, name: connectorName, legacyUrl: catalogUrl, topic, slotName });
  console.log(`[cdc] worker start → connector RUNNING: ${Date.now() - startedAt} ms`);

  consumer = kafka.consumer({ groupId: `${prefix}cdc-test`, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      await ids.learn([message.value]);
      const read = message.value ? avroOf(ids, message.value) : undefined;
      received.push({
        key: message.key?.toString() ?? '',
        value: (read?.record as Received['value']) ?? null,
        raw: message.value,
        schemaId: read?.id,
        partition,
        at: Date.now(),
      });
    },
  });
});

afterAll(async () => {
  await consumer?.disconnect().catch(() => {});
  await db?.end().catch(() => {});
  if (connect) await deleteConnector({ connectUrl: connect.url, name: connectorName, legacyUrl: catalogUrl, slotName }).catch((e) => console.error(e));
  await connect?.stop();
  if (kafka) {
    const admin = kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.deleteGroups([`${prefix}cdc-test`, group]).catch(() => {});
    await admin.disconnect();
  }
  await registry.deleteSubjects(prefix).catch((e) => console.error(e));
  if (catalogUrl) await dropLegacyDatabase(catalogUrl).catch((e) => console.error(e));
});

describe('the legacy catalog on the log (Debezium)', () => {
  it('snapshots the seeded catalog: every movie keyed by its id', async () => {
    await waitFor(() => new Set(received.map((m) => m.key)).size >= 1200, 60_000, () => `${new Set(received.map((m) => m.key)).size}/1200 movies`);
    const lethalWeapon = messagesFor(362)[0].value!;
    expect(lethalWeapon.op).toBe('r');
    // The bounded capture table's row: the legacy row as it is, and `reduced` null, since nothing was cut.
    expect({ ...lethalWeapon.after }).toEqual({ id: 362n, title: 'Lethal Weapon', release_year: 1987, country: 'US', genres: ['Action', 'Crime'], reduced: null });
  });

  it('writes each value in Avro, framed with the id of the schema the converter registered under <topic>-value', async () => {
    const [first] = messagesFor(362);
    expect(first.raw![0]).toBe(0); // the wire format's magic byte
    const latest = await fetch(`${registry.url}/subjects/${encodeURIComponent(subjectOf('', topic))}/versions/latest`);
    expect(latest.status).toBe(200);
    const { id: registered, schemaType } = (await latest.json()) as { id: number; schemaType?: string };
    expect(schemaType ?? 'AVRO').toBe('AVRO');
    expect(new Set(received.map((m) => m.schemaId).filter((id) => id !== undefined))).toEqual(new Set([registered]));
    // The ratings domain's decoder reads it as it is on the log.
    expect(decodeMovieChange(Buffer.from(first.key), first.raw, ids)).toMatchObject({ type: 'MovieUpserted', movie: { movieId: '362', title: 'Lethal Weapon' } });
  });

  it('streams an insert, an update and a delete in commit order; the delete is followed by a tombstone', async () => {
    const movieId = 900_001;
    await db.query(`INSERT INTO movies (id, title, release_year, country, genres) VALUES ($1, 'Lethal Weapon 2', 1989, 'US', '{Action}')`, [movieId]);
    await db.query(`UPDATE movies SET title = 'Lethal Weapon II' WHERE id = $1`, [movieId]);
    await db.query('DELETE FROM movies WHERE id = $1', [movieId]);
    await waitFor(() => messagesFor(movieId).length >= 4, 20_000, () => `4 messages for ${movieId}, got ${JSON.stringify(messagesFor(movieId))}`);
    const messages = messagesFor(movieId);
    expect(messages.map((m) => m.value?.op ?? null)).toEqual(['c', 'u', 'd', null]);
    expect(new Set(messages.map((m) => m.partition)).size).toBe(1);
    const [, update, remove] = messages.map((m) => m.value!);
    // REPLICA IDENTITY DEFAULT on the capture table: no old row in an update, only the key in a delete's `before`.
    expect(update.before).toBeNull();
    expect(update.after).toMatchObject({ id: BigInt(movieId), title: 'Lethal Weapon II' });
    expect({ ...remove.before }).toEqual({ id: BigInt(movieId), title: '', release_year: null, country: null, genres: [], reduced: null }); // the key, and empties
    expect(remove.after).toBeNull();
  });

  it('delivers a commit to Kafka within a fraction of a second (p50 printed)', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = messagesFor(1).length;
      const committedAt = Date.now();
      await db.query('UPDATE movies SET release_year = release_year + 1 WHERE id = 1');
      await waitFor(() => messagesFor(1).length > before, 10_000, () => `update ${i} of movie 1`);
      latencies.push(messagesFor(1)[before].at - committedAt);
    }
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length / 2)];
    console.log(`[cdc] commit → Kafka consumer: p50 ${p50} ms, max ${latencies.at(-1)} ms (20 updates)`);
    expect(p50).toBeLessThan(1000);
  });

  it('carries a 10 MB title, its update and its delete reduced to the bounds, and a normal edit after them arrives within seconds', async () => {
    const movieId = 900_010;
    const tenMegabytes = 10 * 1024 * 1024;
    await db.query(`INSERT INTO movies (id, title, release_year, country, genres) VALUES ($1, $2, 2024, 'US', '{Drama}')`, [movieId, 'T'.repeat(tenMegabytes)]);
    await db.query('UPDATE movies SET title = $2 WHERE id = $1', [movieId, 'U'.repeat(tenMegabytes)]);
    await db.query('DELETE FROM movies WHERE id = $1', [movieId]);
    const before = messagesFor(362).length;
    const editedAt = Date.now();
    await db.query(`UPDATE movies SET title = 'Lethal Weapon (edited)' WHERE id = 362`);
    await waitFor(() => messagesFor(362).length > before, 10_000, () => `the edit of movie 362 after the 10 MB row (${JSON.stringify(messagesFor(movieId).map((m) => m.value?.op ?? null))} of it arrived)`);
    const arrivedIn = messagesFor(362)[before].at - editedAt;
    console.log(`[cdc] a normal edit after a 10 MB title's insert, update and delete: arrived in ${arrivedIn} ms`);
    expect(arrivedIn).toBeLessThan(5_000);
    expect(messagesFor(362)[before].value!.after).toMatchObject({ id: 362n, title: 'Lethal Weapon (edited)' });

    // The oversized row itself was not dropped: each change arrived (its partition may be read after 362's),
    // bounded, and says what was cut.
    await waitFor(() => messagesFor(movieId).length >= 4, 10_000, () => `the 10 MB row's four changes (${messagesFor(movieId).length} arrived)`);
    const messages = messagesFor(movieId);
    expect(messages.map((m) => m.value?.op ?? null)).toEqual(['c', 'u', 'd', null]);
    const [insert, update] = messages.map((m) => m.value!);
    expect(insert.after).toMatchObject({ id: BigInt(movieId), title: 'T'.repeat(CATALOG_BOUNDS.titleChars), reduced: [`title: ${tenMegabytes} characters, kept ${CATALOG_BOUNDS.titleChars}`] });
    expect(update.after).toMatchObject({ id: BigInt(movieId), title: 'U'.repeat(CATALOG_BOUNDS.titleChars) });
    const upserted = decodeMovieChange(Buffer.from(messages[1].key), messages[1].raw, ids);
    expect(upserted).toMatchObject({ type: 'MovieUpserted', movie: { movieId: String(movieId), title: 'U'.repeat(CATALOG_BOUNDS.titleChars) } });
    expect(upserted?.type === 'MovieUpserted' && upserted.movie.reduced).toEqual([`title: ${tenMegabytes} characters, kept ${CATALOG_BOUNDS.titleChars}`]);
    expect(decodeMovieChange(Buffer.from(messages[2].key), messages[2].raw, ids)).toEqual({ type: 'MovieRemoved', movieId: String(movieId) });
  });

  it('bounds genres at the source: 100,000 of them, and one of 10 MB, arrive as at most 20 short ones', async () => {
    const movieId = 900_011;
    const many = Array.from({ length: 100_000 }, (_, i) => `Genre ${i}`);
    await db.query(`INSERT INTO movies (id, title, release_year, country, genres) VALUES ($1, 'Every Genre', 2024, $2, $3)`, [movieId, 'C'.repeat(5_000), many]);
    await db.query('UPDATE movies SET genres = $2 WHERE id = $1', [movieId, ['G'.repeat(10 * 1024 * 1024), 'Drama']]);
    await waitFor(() => messagesFor(movieId).length >= 2, 20_000, () => `2 changes of movie ${movieId}, got ${messagesFor(movieId).length}`);
    const [insert, update] = messagesFor(movieId).map((m) => m.value!);
    expect(insert.after).toMatchObject({
      title: 'Every Genre',
      country: 'C'.repeat(CATALOG_BOUNDS.countryChars),
      genres: many.slice(0, CATALOG_BOUNDS.genres),
      reduced: [`country: 5000 characters, kept ${CATALOG_BOUNDS.countryChars}`, `genres: 100000, kept ${CATALOG_BOUNDS.genres}`],
    });
    expect(update.after).toMatchObject({
      genres: ['G'.repeat(CATALOG_BOUNDS.genreChars), 'Drama'],
      reduced: [`country: 5000 characters, kept ${CATALOG_BOUNDS.countryChars}`, `genre characters: the longest ${10 * 1024 * 1024}, kept ${CATALOG_BOUNDS.genreChars}`],
    });
  });

  it('delivers the changes made while Connect was down once it is back', async () => {
    await connect.stop();
    await db.query(`INSERT INTO movies (id, title, release_year, country, genres) VALUES (900002, 'Written While Down', 2024, 'GB', '{Drama}')`);
    await db.query(`UPDATE movies SET title = 'Renamed While Down' WHERE id = 2`);
    await db.query('DELETE FROM movies WHERE id = 3');
    const restartedAt = Date.now();
    connect = await startWorker();
    expect(connect.started).toBe(true);
    // Nobody registers it again: its config and offsets were kept in Kafka.
    await waitForConnector(connect.url, connectorName, 60_000);
    console.log(`[cdc] worker restart → connector RUNNING again: ${Date.now() - restartedAt} ms`);
    await waitFor(
      () => messagesFor(900002).length >= 1 && messagesFor(2).some((m) => m.value?.op === 'u') && messagesFor(3).some((m) => m.value === null),
      30_000,
      () => 'the three changes made while Connect was down',
    );
    expect(messagesFor(900002)[0].value!.after).toMatchObject({ title: 'Written While Down' });
    expect(messagesFor(2).find((m) => m.value?.op === 'u')!.value!.after).toMatchObject({ title: 'Renamed While Down' });
    expect(messagesFor(3).map((m) => m.value?.op ?? null).slice(-2)).toEqual(['d', null]);
  });

  it('replaces a connector an earlier version registered on the raw movies table, with its slot and publication', async () => {
    const old = { connectUrl: connect.url, name: `${connectorName}-old`, legacyUrl: catalogUrl, topic: `${prefix}movies-old`, slotName: `${slotName}_old` };
    const config = moviesConnectorConfig(old);
    const response = await fetch(`${connect.url}/connectors/${encodeURIComponent(old.name)}/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...config, 'table.include.list': 'public.movies', 'transforms.route.regex': config['transforms.route.regex'].replace('movies_capture', 'movies') }),
    });
    expect(response.ok, await response.text()).toBe(true);
    await waitForConnector(connect.url, old.name);
    const published = async () => (await db.query('SELECT tablename FROM pg_publication_tables WHERE pubname = $1', [old.slotName])).rows.map((r) => r.tablename);
    expect(await published()).toEqual(['movies']);

    await registerMoviesConnector(old);
    const now = (await (await fetch(`${connect.url}/connectors/${encodeURIComponent(old.name)}/config`)).json()) as Record<string, string>;
    expect(now['table.include.list']).toBe('public.movies_capture');
    expect(await published()).toEqual(['movies_capture']);
    await deleteConnector(old);
  });
});
