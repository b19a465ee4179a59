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
  MOVIES_TOPIC_CONFIG,
  registerMoviesConnector,
  waitForConnector,
  type RunningConnect,
} from '../infra/connect/connect.ts';
import { createLegacyDatabase, dropLegacyDatabase } from '../infra/legacy-postgres.ts';
import { freePort, waitFor } from './support/system.ts';

interface Received {
  key: string;
  /** Debezium's change event; null for a tombstone. */
  value: { op: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null } | null;
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
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6, configEntries: MOVIES_TOPIC_CONFIG }], waitForLeaders: true });
  await admin.disconnect();

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
      received.push({
        key: message.key?.toString() ?? '',
        value: message.value ? JSON.parse(message.value.toString()) : null,
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
  if (catalogUrl) await dropLegacyDatabase(catalogUrl).catch((e) => console.error(e));
});

describe('the legacy catalog on the log (Debezium)', () => {
  it('snapshots the seeded catalog: every movie keyed by its id', async () => {
    await waitFor(() => new Set(received.map((m) => m.key)).size >= 1200, 60_000, () => `${new Set(received.map((m) => m.key)).size}/1200 movies`);
    const lethalWeapon = messagesFor(362)[0].value!;
    expect(lethalWeapon.op).toBe('r');
    expect(lethalWeapon.after).toEqual({ id: 362, title: 'Lethal Weapon', release_year: 1987, country: 'US', genres: ['Action', 'Crime'] });
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
    // REPLICA IDENTITY FULL: updates and deletes carry the whole previous row.
    expect(update.before).toMatchObject({ id: movieId, title: 'Lethal Weapon 2', release_year: 1989 });
    expect(update.after).toMatchObject({ id: movieId, title: 'Lethal Weapon II' });
    expect(remove.before).toMatchObject({ id: movieId, title: 'Lethal Weapon II', genres: ['Action'] });
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
});
