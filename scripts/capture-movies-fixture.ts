/**
 * Captures services/ratings/fixtures/debezium-movies.json from the real thing: a catalog database of its own on the
 * legacy PostgreSQL, a Connect worker of its own, the movies connector as infra/connect/connect.ts configures it,
 * and the schema registry. It snapshots the seeded catalog, makes the changes the decoder's tests read, and writes
 * each message's key (text) and value (base64, as on the log) with the writer's schema; then removes everything it
 * made. Run it again when Debezium, the converter or the capture table change:
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx scripts/capture-movies-fixture.ts
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { deleteConnector, ensureConnect, MOVIES_TOPIC, registerMoviesConnector } from '../infra/connect/connect.ts';
import { createLegacyDatabase, dropLegacyDatabase, ensureLegacyDatabase } from '../infra/legacy-postgres.ts';
import { ensureTopics } from '../services/shared/bus.ts';
import { kafkaBrokers } from '../services/shared/config.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import { HEADER_BYTES } from '../services/shared/wire.ts';

const out = resolve(import.meta.dirname, '../services/ratings/fixtures/debezium-movies.json');
const id = randomUUID().slice(0, 8);
const prefix = `capture-${id}.`;
const topic = prefix + MOVIES_TOPIC;
const name = `capture-${id}-movies`;
const slotName = `capture_${id}_movies`;
const say = (line: string) => console.log(`[capture] ${line}`);

/** A port nothing listens on now, for the worker's REST API. */
const freePort = () => new Promise<number>((done) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => done(port));
  });
});

/** The changes made after the snapshot, in order; each fixture message names the change it comes from. */
const CHANGES: [string, unknown[]][] = [
  [`INSERT INTO movies (id, title, release_year, country, genres) VALUES (900001, 'Lethal Weapon 2', 1989, 'US', '{Action,Crime,"Buddy Cop"}')`, []],
  [`UPDATE movies SET title = 'Lethal Weapon II' WHERE id = 900001`, []],
  [`INSERT INTO movies (id, title, release_year, country, genres) VALUES (900002, $1, NULL, NULL, '{}')`, ['Untitled Émigré Project — 「試写」']],
  ['DELETE FROM movies WHERE id = 900001', []],
  [`INSERT INTO movies (id, title, release_year, country, genres) VALUES (9007199254740993, 'Beyond Safe Integers', 2030, NULL, '{}')`, []],
  [`INSERT INTO movies (id, title, release_year, country, genres) VALUES (900003, $1, 2024, 'US', $2)`, ['Long '.repeat(1000), Array.from({ length: 25 }, (_, i) => `Genre ${i + 1}`)]],
];

const legacy = await ensureLegacyDatabase({ log: say });
const catalog = new URL(legacy.url);
catalog.pathname = `/legacy_capture_${id}`;
const catalogUrl = catalog.toString();
await createLegacyDatabase(catalogUrl);
const brokers = kafkaBrokers();
const kafka = new Kafka({ clientId: 'capture-movies-fixture', brokers, logLevel: logLevel.NOTHING });
// One partition: the fixture's messages in the order they were written.
await ensureTopics(kafka, new Map([[MOVIES_TOPIC, { compacted: true }]]), prefix, 1);
const connect = await ensureConnect({ brokers, port: await freePort(), group: `${prefix}connect`, log: say });
const db = new pg.Client({ connectionString: catalogUrl });
const consumer = kafka.consumer({ groupId: `${prefix}reader`, maxWaitTimeInMs: 50 });
try {
  await registerMoviesConnector({ connectUrl: connect.url, name, legacyUrl: catalogUrl, topic, slotName, partitions: 1 });
  const received: { key: string | null; value: Buffer | null }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void received.push({ key: message.key?.toString() ?? null, value: message.value }) });
  const until = async (what: string, done: () => boolean) => {
    const deadline = Date.now() + 60_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${what} did not arrive within 60 s (${received.length} messages so far)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await until('the snapshot', () => received.length >= 1200);
  await db.connect();
  for (const [sql, values] of CHANGES) await db.query(sql, values);
  // 1200 snapshot rows, then c, u, c, d + tombstone, c, c.
  await until('the changes', () => received.length >= 1200 + 7);

  const at = (index: number) => received[index];
  const messages = {
    snapshotFirst: at(0),
    snapshotLethalWeapon: received.find((m) => m.key === '362')!,
    snapshotLast: at(1199),
    insert: at(1200),
    updateTitle: at(1201),
    insertNullYearCountryNoGenres: at(1202),
    delete: at(1203),
    tombstone: at(1204),
    insertBeyondSafeInteger: at(1205),
    insertReduced: at(1206),
  };
  const schemaId = messages.insert.value!.readUInt32BE(1);
  const ids = new Set(Object.values(messages).flatMap((m) => (m.value ? [m.value.readUInt32BE(1)] : [])));
  if (ids.size !== 1) throw new Error(`the messages name several schema ids (${[...ids].join(', ')}); expected one`);
  const schema = await createSchemaRegistry().schemaById(schemaId);
  if (!schema) throw new Error(`the registry has no schema ${schemaId}`);
  const fixture = {
    _about:
      'Real messages from Debezium 3.6.1.Final\'s PostgreSQL connector as configured by infra/connect/connect.ts (the bounded table ' +
      'movies_capture; key = the movie id alone as JSON text; value = Avro through Apicurio\'s AvroConverter 2.6.13.Final in the ' +
      `wire format: magic byte 0, the ${HEADER_BYTES - 1}-byte schema id, the record), captured from the movies topic on Apache Kafka ` +
      '3.9.1 with Apicurio Registry 3.3.3 by scripts/capture-movies-fixture.ts. `schema` is what the registry answered for the ' +
      'values\' schema id; each value is base64, null for a tombstone. insertReduced is a row with a 5,000-character title and ' +
      '25 genres, cut at the source.',
    schema: { id: schemaId, ...schema },
    messages: Object.fromEntries(Object.entries(messages).map(([key, m]) => [key, { key: m.key, value: m.value?.toString('base64') ?? null }])),
  };
  writeFileSync(out, `${JSON.stringify(fixture, null, 2)}\n`);
  say(`wrote ${Object.keys(messages).length} messages with schema id ${schemaId} to ${out}`);
} finally {
  await consumer.disconnect().catch(() => {});
  await db.end().catch(() => {});
  await deleteConnector({ connectUrl: connect.url, name, legacyUrl: catalogUrl, slotName }).catch((error) => console.error(error));
  await connect.stop();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(prefix)) }).catch(() => {});
  await admin.deleteGroups([`${prefix}reader`, `${prefix}connect`]).catch(() => {});
  await admin.disconnect();
  await createSchemaRegistry().deleteSubjects(prefix).catch((error) => console.error(error));
  await dropLegacyDatabase(catalogUrl).catch((error) => console.error(error));
  await legacy.stop();
}
