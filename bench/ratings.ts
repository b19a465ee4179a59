/**
 * The ratings section of `npm run bench`: how many ratings per second the ratings service sustains from
 * `raw-ratings`, how fresh the leaderboard is at a steady rate, and how long a legacy commit takes to show in
 * `movie(id)`, each beside a floor measured in the same run.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient } from 'graphql-ws';
import { build, type Histogram } from 'hdr-histogram-js';
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import WebSocket from 'ws';
import { dropDatabase, migrate } from '../infra/database.ts';
import { ratingsContract, TOPICS } from '../services/ratings/contract.ts';
import { registerChangeSchema, snapshotMessage } from '../services/ratings/fixtures/debezium.ts';
import { avroOf } from '../services/shared/avro.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import { createSchemaIds } from '../services/shared/wire.ts';
import { DOMAINS } from '../services/domains.ts';
import { createBus, createKafka, joined, type Bus } from '../services/shared/bus.ts';
import { provisionPrefix, type ProvisionedPrefix } from '../services/shared/prefix.ts';
import type { BenchSystem } from './system.ts';
import { connectionParams, graphql } from './measure.ts';

export const SUSTAINED_RATINGS = 100_000;
const SUSTAINED_MOVIES = 50;
export const FRESHNESS_RATE = 1000;
export const FRESHNESS_SECONDS = 15;
const FRESHNESS_WARMUP_SECONDS = 2;
// Movies of the seeded catalog (1–1200) no other part of the bench rates; always rated 10, so they head a
// `topRatedMovies(limit: 100)` the subscription watches.
const FRESHNESS_MOVIES = Array.from({ length: 20 }, (_, i) => String(1101 + i));
export const LEGACY_SAMPLES = 30;
const LEGACY_MOVIE = 1150;

const histogram = () => build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
const micros = () => Number(process.hrtime.bigint() / 1000n);
const percentiles = (h: Histogram) => ({
  p50: h.getValueAtPercentile(50) / 1000, p95: h.getValueAtPercentile(95) / 1000, p99: h.getValueAtPercentile(99) / 1000,
  max: h.maxValue / 1000, count: h.totalCount,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Waits until the catalog's snapshot has reached the gateway's projection (the ratings service reads the same topic). */
export async function waitForCatalog(system: BenchSystem, say: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  say('waiting for the legacy catalog to be captured (movie 1200 in the projection)…');
  while (!(await graphql(system.url, `{ movie(id: "1200") { id } }`).then((d) => d.movie, () => null))) {
    if (Date.now() > deadline) throw new Error('the catalog did not reach movie(id) within 120 s: is the Connect worker running?');
    await sleep(250);
  }
}

const totalHigh = async (bus: Bus, physical: string) =>
  (await bus.topicOffsets(physical)).reduce((sum, p) => sum + Number(p.high), 0);

/**
 * Ratings per second the ratings service sustains: 100,000 RateMovie commands are on `raw-ratings` before a
 * fresh ratings process (the one `npm start` runs, with its projector) starts on its own topics and database;
 * the clock runs from its first output on `rated-movies` until it has written one per rating. Floor: a bare
 * kafkajs consumer reading the same topic end to end. BENCH_CPU_PROF=1 writes the ratings process's CPU
 * profile to bench/results/profiles/.
 */
export async function ratingsSustained(system: BenchSystem, say: (line: string) => void, options: { raiseMaxMessageBytes?: boolean; capSeconds?: number } = {}) {
  const capSeconds = options.capSeconds ?? 30;
  const id = randomUUID().slice(0, 8);
  const prefix = `${system.topicPrefix}rate-${id}.`;
  const url = new URL(system.databaseUrl);
  url.pathname = `/gateway_bench_rate_${id}`;
  const databaseUrl = url.toString();
  await migrate(databaseUrl);
  const bus = await createBus({ clientId: 'bench-ratings', brokers: system.kafkaBrokers.split(','), prefix });
  let child: ReturnType<typeof spawn> | undefined;
  let topics: ProvisionedPrefix | undefined;
  try {
    // Topics and subjects both: the commands below are written in the wire format, tagged with their subject's id.
    topics = await provisionPrefix(bus.kafka, DOMAINS, prefix);
    if (options.raiseMaxMessageBytes) {
      // The workaround for what the default run hits: the service publishes a whole fetched batch's events (and
      // replies) in one produce request, which the broker refuses above max.message.bytes (1 MB) per partition.
      const admin = bus.kafka.admin();
      await admin.connect();
      await admin.alterConfigs({
        validateOnly: false,
        resources: [TOPICS.ratedMovies, 'command.replies', 'dead.letters'].map((name) => ({
          type: 2 /* ConfigResourceTypes.TOPIC: kafkajs's ESM entry does not export the enum */, name: bus.topic(name), configEntries: [{ name: 'max.message.bytes', value: String(64 * 2 ** 20) }],
        })),
      });
      await admin.disconnect();
    }
    // The catalog as Debezium writes it (a snapshot row per movie: key = the id, value = the change in Avro, its
    // schema registered under the topic's subject as the connector's converter does).
    const schemaId = await registerChangeSchema(createSchemaRegistry(), bus.topic(TOPICS.movies));
    const producer = bus.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: bus.topic(TOPICS.movies),
      acks: -1,
      messages: Array.from({ length: SUSTAINED_MOVIES }, (_, i) =>
        snapshotMessage(schemaId, { id: i + 1, title: `Bench movie ${i + 1}`, releaseYear: 2000, country: 'US', genres: [] })),
    });
    await producer.disconnect();

    say(`  producing ${SUSTAINED_RATINGS} RateMovie commands for ${SUSTAINED_MOVIES} movies…`);
    const produceStarted = performance.now();
    for (let i = 0; i < SUSTAINED_RATINGS; i += 5000) {
      const batch = Array.from({ length: Math.min(5000, SUSTAINED_RATINGS - i) }, (_, j) =>
        ratingsContract.outgoing(ratingsContract.command({ type: 'RateMovie', data: { movieId: String(((i + j) % SUSTAINED_MOVIES) + 1), rating: ((i + j) % 101) / 10 } })));
      await bus.publish(batch);
    }
    const producedPerSecond = SUSTAINED_RATINGS / ((performance.now() - produceStarted) / 1000);

    say('  floor: a bare kafkajs consumer reading raw-ratings end to end…');
    const floor = await bareConsumer(system, bus.topic(TOPICS.rawRatings), SUSTAINED_RATINGS);

    say('  a fresh ratings process catching up on them…');
    const profileDir = resolve(import.meta.dirname, 'results/profiles');
    const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
    if (profile.length) mkdirSync(profileDir, { recursive: true });
    const spawnedAt = performance.now();
    child = spawn(process.execPath, [...profile, '--import', 'tsx', resolve(import.meta.dirname, '../services/main.ts'), 'ratings'], {
      env: { ...process.env, KAFKA_BROKERS: system.kafkaBrokers, TOPIC_PREFIX: prefix, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const rated = bus.topic(TOPICS.ratedMovies);
    let first: { at: number; written: number } | undefined;
    let written = 0;
    let lastSay = performance.now();
    // A run that cannot finish in time is measured over what it did until then (and says so).
    const deadline = Date.now() + 120_000;
    while (written < SUSTAINED_RATINGS) {
      if (child.exitCode !== null) throw new Error(`the ratings process exited with code ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`the ratings process wrote nothing within 120 s`);
      if (first && performance.now() - first.at > capSeconds * 1000) {
        say(`    stopped after ${capSeconds} s with ${written}/${SUSTAINED_RATINGS} written`);
        break;
      }
      written = await totalHigh(bus, rated);
      if (written > 0 && !first) first = { at: performance.now(), written };
      if (performance.now() - lastSay > 2000) {
        say(`    ${written}/${SUSTAINED_RATINGS} rated movies written`);
        lastSay = performance.now();
      }
      await sleep(20);
    }
    const end = performance.now();
    const seconds = (end - first!.at) / 1000;
    // The projector in the same process is still applying rated-movies: how long until PostgreSQL has it all.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const projected = async () => Number((await db.query(`SELECT coalesce(sum(next_offset), 0) AS n FROM projection_offsets WHERE topic = $1`, [rated])).rows[0].n);
    let projectedAfterMs: number | null = null;
    if (written >= SUSTAINED_RATINGS) {
      const projectDeadline = Date.now() + 120_000;
      while ((await projected()) < SUSTAINED_RATINGS && Date.now() < projectDeadline) await sleep(50);
      projectedAfterMs = performance.now() - first!.at;
    }
    await db.end();
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM'); // a clean exit, so --cpu-prof writes its profile
    await exited;
    child = undefined;
    return {
      ratings: SUSTAINED_RATINGS, movies: SUSTAINED_MOVIES, producedPerSecond, maxMessageBytesRaised: Boolean(options.raiseMaxMessageBytes),
      written, finished: written >= SUSTAINED_RATINGS,
      seconds, perSecond: (written - first!.written) / seconds,
      startToFirstOutputMs: first!.at - spawnedAt, projectedAfterMs,
      floor, profileDir: profile.length ? profileDir : undefined,
    };
  } finally {
    child?.kill('SIGKILL');
    await topics?.remove().catch(() => {});
    await bus.close();
    await dropDatabase(databaseUrl).catch(() => {});
  }
}

/** A bare kafkajs consumer reading `count` messages of a topic from the beginning: messages/s from its first batch. */
async function bareConsumer(system: BenchSystem, topic: string, count: number) {
  const kafka = createKafka('bench-bare-consumer', system.kafkaBrokers.split(','));
  const consumer = kafka.consumer({ groupId: `${topic}.bare.${randomUUID().slice(0, 8)}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let read = 0;
  let firstAt = 0;
  let firstBatch = 0;
  const done = new Promise<number>((resolveDone) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!firstAt) {
          firstAt = performance.now();
          firstBatch = batch.messages.length;
        }
        read += batch.messages.length;
        if (read >= count) resolveDone(performance.now());
      },
    });
  });
  const end = await done;
  await consumer.disconnect();
  const seconds = (end - firstAt) / 1000;
  return { messages: read, seconds, perSecond: (read - firstBatch) / seconds };
}

/**
 * Rating produced → visible in `topRatedMovies`: ratings at a steady rate on raw-ratings (through the running
 * system's own ratings service), each timed from just before its publish until a `topRatedMoviesChanged`
 * update (the leaderboard read from PostgreSQL after the projection applied it) shows its movie's count
 * reaching it.
 */
export async function ratingsFreshness(system: BenchSystem, say: (line: string) => void) {
  const bus = await createBus({ clientId: 'bench-freshness', brokers: system.kafkaBrokers.split(','), prefix: system.topicPrefix });
  const ws = createClient({ url: system.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
  try {
    // Counts so far (a running system may have rated them already): the k-th rating sent is visible at base + k.
    const base = new Map<string, number>();
    for (const id of FRESHNESS_MOVIES) base.set(id, (await graphql(system.url, `query($id: ID!) { movie(id: $id) { rating { count } } }`, { id })).movie.rating?.count ?? 0);
    const sentAt = new Map<string, number[]>(FRESHNESS_MOVIES.map((id) => [id, []]));
    const seen = new Map<string, number>(FRESHNESS_MOVIES.map((id) => [id, 0]));
    const h = histogram();
    let warmupEnds = Infinity; // index per movie from which samples count, set when the warm-up ends
    const countFrom = new Map<string, number>();
    const update = (board: { id: string; rating: { count: number } | null }[]) => {
      const now = micros();
      for (const movie of board) {
        const times = sentAt.get(movie.id);
        if (!times || !movie.rating) continue;
        const visible = Math.min(times.length, movie.rating.count - base.get(movie.id)!);
        for (let k = seen.get(movie.id)!; k < visible; k += 1) {
          if (k >= (countFrom.get(movie.id) ?? Infinity)) h.recordValue(Math.max(1, now - times[k]));
        }
        seen.set(movie.id, Math.max(seen.get(movie.id)!, visible));
      }
    };
    let firstUpdate: () => void;
    const subscribed = new Promise<void>((r) => (firstUpdate = r));
    ws.subscribe({ query: `subscription { topRatedMoviesChanged(limit: 100) { id rating { count } } }` }, {
      next: ({ data }) => {
        update((data as any).topRatedMoviesChanged);
        firstUpdate();
      },
      error: (error) => say(`  subscription error: ${JSON.stringify(error)}`),
      complete: () => {},
    });
    await subscribed;

    const total = FRESHNESS_RATE * (FRESHNESS_SECONDS + FRESHNESS_WARMUP_SECONDS);
    say(`  ${FRESHNESS_RATE} ratings/s for ${FRESHNESS_WARMUP_SECONDS} s of warm-up, then ${FRESHNESS_SECONDS} s measured…`);
    const started = performance.now();
    let sent = 0;
    while (sent < total) {
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed >= FRESHNESS_WARMUP_SECONDS && warmupEnds === Infinity) {
        warmupEnds = sent;
        for (const [id, times] of sentAt) countFrom.set(id, times.length);
      }
      const due = Math.min(total, Math.floor(elapsed * FRESHNESS_RATE)) - sent;
      if (due <= 0) {
        await sleep(2);
        continue;
      }
      const batch = Array.from({ length: due }, (_, i) => FRESHNESS_MOVIES[(sent + i) % FRESHNESS_MOVIES.length]);
      const at = micros();
      for (const id of batch) sentAt.get(id)!.push(at);
      await bus.publish(batch.map((movieId) => ratingsContract.outgoing(ratingsContract.command({ type: 'RateMovie', data: { movieId, rating: 10 } }))));
      sent += batch.length;
    }
    const sendSeconds = (performance.now() - started) / 1000;
    const deadline = Date.now() + 60_000;
    while ([...sentAt].some(([id, times]) => seen.get(id)! < times.length)) {
      if (Date.now() > deadline) throw new Error('not every rating became visible in topRatedMovies within 60 s of the last one');
      await sleep(20);
    }
    return { rate: FRESHNESS_RATE, seconds: FRESHNESS_SECONDS, achievedRate: sent / sendSeconds, ...percentiles(h) };
  } finally {
    await ws.dispose();
    await bus.close();
  }
}

/**
 * Legacy commit → `movie(id)` shows it through the gateway: a title UPDATEd in the legacy database, then
 * `movie(id)` polled every 5 ms. Floor: the same commit → Debezium's message arriving at a bare consumer of the
 * movies topic. Timed from just before the UPDATE (autocommit) is sent; the title is restored afterwards.
 */
export async function legacyToVisible(system: BenchSystem, say: (line: string) => void) {
  const db = new pg.Client({ connectionString: system.legacyUrl });
  await db.connect();
  const kafka = createKafka('bench-legacy', system.kafkaBrokers.split(','));
  const consumer = kafka.consumer({ groupId: `${system.topicPrefix}bench.legacy.${randomUUID().slice(0, 8)}`, maxWaitTimeInMs: 100 });
  const original = (await db.query('SELECT title FROM movies WHERE id = $1', [LEGACY_MOVIE])).rows[0]?.title as string;
  if (original === undefined) throw new Error(`the legacy catalog has no movie ${LEGACY_MOVIE}`);
  const arrived = new Map<string, number>(); // title → when its change reached the bare consumer
  const ids = createSchemaIds(); // the value's schema is looked up once, at the first change
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: system.moviesTopic, fromBeginning: false });
    const ready = joined(consumer);
    await consumer.run({
      eachMessage: async ({ message }) => {
        const at = micros();
        await ids.learn([message.value]);
        const title = message.value && (avroOf(ids, message.value).record as { after: { title: string } | null }).after?.title;
        if (title) arrived.set(title, at);
      },
    });
    await ready;
    await sleep(500); // the new group's offsets are set to the end before the first update is committed
    const visible = histogram();
    const floor = histogram();
    const tag = randomUUID().slice(0, 6);
    for (let i = -3; i < LEGACY_SAMPLES; i += 1) { // three warm-up samples
      const title = `Bench ${tag} #${i}`;
      const t0 = micros();
      await db.query('UPDATE movies SET title = $1 WHERE id = $2', [title, LEGACY_MOVIE]);
      const deadline = Date.now() + 30_000;
      let seenAt = 0;
      while (!seenAt) {
        if (Date.now() > deadline) throw new Error(`"${title}" did not show in movie(${LEGACY_MOVIE}) within 30 s`);
        const { movie } = await graphql(system.url, `query($id: ID!) { movie(id: $id) { title } }`, { id: String(LEGACY_MOVIE) });
        if (movie?.title === title) seenAt = micros();
        else await sleep(5);
      }
      while (!arrived.has(title)) {
        if (Date.now() > deadline) throw new Error(`"${title}" never reached the bare consumer of ${system.moviesTopic}`);
        await sleep(5);
      }
      if (i >= 0) {
        visible.recordValue(Math.max(1, seenAt - t0));
        floor.recordValue(Math.max(1, arrived.get(title)! - t0));
      }
    }
    say(`  ${LEGACY_SAMPLES} samples done; restoring the title`);
    return { samples: LEGACY_SAMPLES, visible: percentiles(visible), debezium: percentiles(floor) };
  } finally {
    await db.query('UPDATE movies SET title = $1 WHERE id = $2', [original, LEGACY_MOVIE]).catch(() => {});
    await db.end();
    await consumer.disconnect().catch(() => {});
  }
}
