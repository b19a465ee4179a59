/**
 * The parts of `npm run chaos` beyond orders: a ratings load and a rides load through GraphQL, the movie catalog
 * they rate (written as Debezium writes it), and the invariants on what every domain left in the log and the
 * projections: no event id twice on any topic, each movie's count and sum equal to the ratings accepted, and no
 * driver ever on two rides at once.
 */
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { DOMAINS } from '../services/domains.ts';
import { ratingsContract, TOPICS as RATINGS } from '../services/ratings/contract.ts';
import { registerChangeSchema, snapshotMessage } from '../services/ratings/fixtures/debezium.ts';
import { ridesContract, TOPICS as RIDES } from '../services/rides/contract.ts';
import type { Bus } from '../services/shared/bus.ts';
import type { PrismaClient } from '../services/shared/db.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import { decodeReply, ORIGIN_TOPIC_HEADER, repartitionTopic, RUNTIME_TOPICS, type AnyContract, type AnyEnvelope } from '../services/shared/messages.ts';
import { REPLAY_FOR_HEADER } from './dead-letters.ts';
import type { LogMessage } from './topic-reader.ts';

/** What the gateway answered: data, or the first error's code (`NETWORK` when no answer came). */
export interface Answer {
  data?: any;
  code?: string;
  commandId?: string;
}
export type Gql = (query: string, variables: Record<string, unknown>) => Promise<Answer>;

/** A load of the chaos run: it runs until `stop()` resolves. */
export interface Load {
  stop(): Promise<void>;
  summary(): string;
}

// ─── ratings ────────────────────────────────────────────────────────────────────────────────────────────────────

/** The movies the chaos run rates: a catalog of its own, in its own topics. */
export const CHAOS_MOVIES = ['900001', '900002', '900003', '900004', '900005'];
const RATE = `mutation($id: ID!, $r: Float!) { rateMovie(movieId: $id, rating: $r) { id } }`;
const MOVIE = `query($id: ID!) { movie(id: $id) { id } }`;

export interface RatingAttempt { movieId: string; tenths: number; answer?: Answer }

/**
 * Writes the catalog as Debezium's snapshot of the legacy table does (key = the id as JSON text, value = the change
 * in Avro in the wire format, its schema registered under `<topic>-value` as the connector's converter does:
 * services/ratings/fixtures/debezium.ts), so the run needs no Kafka Connect. Acknowledged by all in-sync replicas.
 */
export async function writeChaosCatalog(bus: Bus): Promise<void> {
  const topic = bus.topic(RATINGS.movies);
  const schemaId = await registerChangeSchema(createSchemaRegistry(), topic);
  const producer = bus.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: CHAOS_MOVIES.map((id, i) => snapshotMessage(schemaId, { id, title: `Chaos movie ${i + 1}`, releaseYear: 2000 + i, country: 'US', genres: ['Drama'] })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** Whether every chaos movie can be read through the gateway (the catalog reached the projection). */
export async function catalogProjected(gql: Gql): Promise<boolean> {
  for (const id of CHAOS_MOVIES) if (!(await gql(MOVIE, { id })).data?.movie) return false;
  return true;
}

/** `clients` clients each rating a random chaos movie 0.0–10.0 in a loop, every attempt recorded. */
export function startRatingsLoad(gql: Gql, attempts: RatingAttempt[], clients: number, pause: (ms: number) => Promise<void>): Load {
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const attempt: RatingAttempt = { movieId: CHAOS_MOVIES[Math.floor(Math.random() * CHAOS_MOVIES.length)], tenths: Math.floor(Math.random() * 101) };
      attempts.push(attempt);
      attempt.answer = await gql(RATE, { id: attempt.movieId, r: attempt.tenths / 10 });
      await pause(attempt.answer.code === 'NETWORK' ? 500 : 100);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    summary: () => `${attempts.length} ratings (${attempts.filter((a) => a.answer && !a.answer.code).length} accepted)`,
  };
}

// ─── rides ──────────────────────────────────────────────────────────────────────────────────────────────────────

const GO_ONLINE = `mutation($d: ID!, $l: LocationInput!) { goOnline(driverId: $d, location: $l) { id status } }`;
const MOVE = `mutation($d: ID!, $l: LocationInput!) { updateDriverLocation(driverId: $d, location: $l) { id } }`;
const REQUEST = `mutation($input: RequestRideInput!) { requestRide(input: $input) { id state driverId } }`;
const RIDE = `query($id: ID!) { ride(id: $id) { id state driverId } }`;
const START = `mutation($id: ID!) { startRide(rideId: $id) { id state } }`;
const COMPLETE = `mutation($id: ID!) { completeRide(rideId: $id) { id state } }`;
const CANCEL = `mutation($id: ID!) { cancelRide(rideId: $id) { id state } }`;

/** Berlin, where the map of /app looks: every pickup and dropoff within about 2 km, so every driver is in range. */
const CENTER = { lat: 52.52, lng: 13.405 };
const near = () => ({ lat: round(CENTER.lat + (Math.random() - 0.5) * 0.03), lng: round(CENTER.lng + (Math.random() - 0.5) * 0.04) });
const round = (x: number) => Math.round(x * 1e6) / 1e6;

export interface RidesTally { requested: number; completed: number; cancelled: number; errors: Record<string, number> }

/**
 * More riders than drivers, so rides wait for a driver to free up and the dispatcher keeps choosing among busy
 * and available ones: each rider requests a ride, and once a driver is assigned drives it through as that driver
 * (to the pickup, start, to the dropoff, complete); a ride without a driver for 8 s is cancelled. A step that
 * fails (a fault) leaves the ride to be settled: completed if under way, else cancelled, so drivers come back.
 */
export function startRidesLoad(gql: Gql, options: { drivers: number; riders: number; runId: string }, pause: (ms: number) => Promise<void>): Load {
  let running = true;
  const tally: RidesTally = { requested: 0, completed: 0, cancelled: 0, errors: {} };
  const failed = (answer: Answer) => {
    if (answer.code) tally.errors[answer.code] = (tally.errors[answer.code] ?? 0) + 1;
    return !!answer.code;
  };
  const drivers = Array.from({ length: options.drivers }, (_, i) => `chaos-driver-${options.runId}-${i + 1}`);
  /** Polls the ride until `done` says so or `ms` passed; its last known state. */
  const follow = async (rideId: string, done: (ride: { state: string; driverId: string | null }) => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    let ride: { state: string; driverId: string | null } | undefined;
    while (running && Date.now() < deadline) {
      ride = (await gql(RIDE, { id: rideId })).data?.ride ?? ride;
      if (ride && done(ride)) return ride;
      await pause(200);
    }
    return ride;
  };
  /** Ends a ride left midway, so its driver is free again; gives up after a few tries (the check does not need it). */
  const settle = async (rideId: string) => {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const ride = (await gql(RIDE, { id: rideId })).data?.ride;
      if (ride && (ride.state === 'COMPLETED' || ride.state === 'CANCELLED')) return;
      if (ride) {
        const answer = await gql(ride.state === 'IN_PROGRESS' ? COMPLETE : CANCEL, { id: rideId });
        if (!answer.code) {
          tally[ride.state === 'IN_PROGRESS' ? 'completed' : 'cancelled'] += 1;
          return;
        }
      }
      await pause(500);
    }
  };
  const online = Promise.all(drivers.map(async (driverId) => {
    while (running && failed(await gql(GO_ONLINE, { d: driverId, l: near() }))) await pause(500);
  }));
  const riders = Array.from({ length: options.riders }, async (_, r) => {
    await online;
    const riderId = `chaos-rider-${options.runId}-${r + 1}`;
    while (running) {
      const rideId = `chaos-ride-${randomUUID()}`;
      const pickup = near();
      const requested = await gql(REQUEST, { input: { id: rideId, riderId, pickup, dropoff: near() } });
      if (failed(requested)) {
        if (requested.code !== 'RIDE_ID_CONFLICT') await settle(rideId);
        await pause(requested.code === 'NETWORK' ? 500 : 100);
        continue;
      }
      tally.requested += 1;
      const assigned = await follow(rideId, (ride) => !!ride.driverId, 8_000);
      if (!assigned?.driverId) {
        await settle(rideId);
        continue;
      }
      const driverId = assigned.driverId;
      const steps: [string, Record<string, unknown>, string | undefined][] = [
        [MOVE, { d: driverId, l: pickup }, 'DRIVER_ARRIVED'],
        [START, { id: rideId }, 'IN_PROGRESS'],
        [MOVE, { d: driverId, l: near() }, undefined],
        [COMPLETE, { id: rideId }, undefined],
      ];
      let ok = true;
      for (const [query, variables, expect] of steps) {
        if (!running || failed(await gql(query, variables))) {
          ok = false;
          break;
        }
        if (expect && (await follow(rideId, (ride) => ride.state === expect, 8_000))?.state !== expect) {
          ok = false;
          break;
        }
      }
      if (ok) tally.completed += 1;
      else await settle(rideId);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all([online, ...riders]);
    },
    summary: () => `${tally.requested} rides requested, ${tally.completed} completed, ${tally.cancelled} cancelled${Object.keys(tally.errors).length ? `, errors ${JSON.stringify(tally.errors)}` : ''}`,
  };
}

// ─── invariants ─────────────────────────────────────────────────────────────────────────────────────────────────

/** The contract that declares a logical topic. */
function contractOf(logical: string): AnyContract | undefined {
  return DOMAINS.find((contract) => logical in contract.topics);
}

const RAW = (message: LogMessage) => ({ key: message.key === null ? null : Buffer.from(message.key), value: message.value, timestamp: message.timestamp });

/** A message of a domain topic as its contract reads it (a forwarded one as on the topic it came from). */
function envelopeOf(bus: Bus, logical: string, message: LogMessage): AnyEnvelope | undefined {
  const origin = message.headers[ORIGIN_TOPIC_HEADER];
  const source = origin === undefined ? logical : origin.startsWith(bus.prefix) ? bus.logicalTopic(origin) : origin;
  const contract = contractOf(source);
  if (!contract) throw new Error(`no contract declares topic ${source}`);
  return contract.read(source, RAW(message));
}

/**
 * The id a message carries, per topic: an envelope's `eventId` or `commandId`, a reply's command, a dead letter's
 * source position and consumer. Undefined for what carries no id (a tombstone) and for a dead letter replayed onto
 * its topic (`replay-for`: a copy for one consumer, by design).
 */
export function messageId(bus: Bus, logical: string, message: LogMessage): string | undefined {
  if (message.value === null) return undefined;
  if (logical === RUNTIME_TOPICS.commandReplies) return `reply to ${decodeReply(message.value).commandId}`;
  if (logical === RUNTIME_TOPICS.deadLetters) {
    const h = message.headers;
    return `dead letter of ${h.sourceTopic}:${h.sourcePartition}:${h.sourceOffset} for ${h.consumer}`;
  }
  if (message.headers[REPLAY_FOR_HEADER] !== undefined) return undefined;
  const envelope = envelopeOf(bus, logical, message);
  if (!envelope) return undefined;
  return envelope.kind === 'event' ? `${envelope.type} ${envelope.eventId}` : `${envelope.type} command ${envelope.commandId}`;
}

/** Every system topic (logical names): the runtime's, each domain's and each service's repartition topic. */
export function allLogicalTopics(): string[] {
  const topics = new Set<string>(Object.values(RUNTIME_TOPICS));
  for (const contract of DOMAINS) {
    for (const name of Object.keys(contract.topics)) topics.add(name);
    for (const service of contract.services) topics.add(repartitionTopic(service.name));
  }
  return [...topics];
}

/** Ids seen more than once on a topic, with where: what a read_committed reader of the whole log saw. */
export function duplicateIds(bus: Bus, log: Map<string, LogMessage[]>): { problems: string[]; detail: string } {
  const problems: string[] = [];
  const perTopic: string[] = [];
  let total = 0;
  for (const [logical, messages] of log) {
    const seen = new Map<string, string[]>();
    for (const message of messages) {
      let id: string | undefined;
      try {
        id = messageId(bus, logical, message);
      } catch (error) {
        problems.push(`${logical} ${message.partition}:${message.offset} cannot be read: ${(error as Error).message}`);
        continue;
      }
      if (id === undefined) continue;
      total += 1;
      seen.set(id, [...(seen.get(id) ?? []), `${message.partition}:${message.offset}`]);
    }
    const repeated = [...seen].filter(([, at]) => at.length > 1);
    if (repeated.length) perTopic.push(`${logical} ${repeated.length}`);
    for (const [id, at] of repeated) problems.push(`${logical}: ${id} ${at.length} times (at ${at.join(', ')})`);
  }
  return {
    problems: problems.length ? [`repeated ids by topic: ${perTopic.join(', ')}`, ...problems] : [],
    detail: `${total} messages with ids on ${log.size} topics, each id once per topic`,
  };
}

/**
 * Each chaos movie's count and sum in the projection (and in its latest rated-movies record) equal the RateMovie
 * commands in the log, one per command id; and those are what clients were told was accepted, plus ratings
 * answered with an error that nonetheless went through (found by their command id, or within the slack of
 * requests cut off without an answer).
 */
export async function ratingProblems(
  bus: Bus, prisma: PrismaClient, log: Map<string, LogMessage[]>, attempts: RatingAttempt[],
): Promise<{ problems: string[]; detail: string }> {
  const commands = new Map<string, { movieId: string; tenths: number }>();
  for (const message of log.get(RATINGS.rawRatings) ?? []) {
    const envelope = ratingsContract.read(RATINGS.rawRatings, RAW(message));
    if (envelope?.kind === 'command' && envelope.type === 'RateMovie') {
      commands.set(envelope.commandId, { movieId: envelope.data.movieId, tenths: Math.round(envelope.data.rating * 10) });
    }
  }
  const lastRated = new Map<string, { count: number; sumTenths: number }>();
  for (const message of log.get(RATINGS.ratedMovies) ?? []) {
    const envelope = ratingsContract.read(RATINGS.ratedMovies, RAW(message));
    if (envelope?.type === 'RatedMovieChanged') lastRated.set(envelope.data.movieId, { count: envelope.data.count, sumTenths: envelope.data.sumTenths });
  }
  const rows = new Map((await prisma.movie.findMany({ where: { id: { in: CHAOS_MOVIES.map(BigInt) } } })).map((m) => [m.id.toString(), m]));
  const problems: string[] = [];
  const details: string[] = [];
  for (const movieId of CHAOS_MOVIES) {
    const inLog = [...commands.values()].filter((c) => c.movieId === movieId);
    const count = inLog.length;
    const sum = inLog.reduce((s, c) => s + c.tenths, 0);
    const row = rows.get(movieId);
    if (!row) {
      problems.push(`movie ${movieId} is not in the projection`);
      continue;
    }
    if (row.ratingCount !== count || Number(row.ratingSumTenths) !== sum) {
      problems.push(`movie ${movieId}: projection count ${row.ratingCount} sum ${Number(row.ratingSumTenths) / 10}, the log's ratings ${count} summing to ${sum / 10}`);
    }
    const rated = lastRated.get(movieId) ?? { count: 0, sumTenths: 0 };
    if (rated.count !== count || rated.sumTenths !== sum) {
      problems.push(`movie ${movieId}: latest rated-movies record count ${rated.count} sum ${rated.sumTenths / 10}, the log's ratings ${count} summing to ${sum / 10}`);
    }
    const mine = attempts.filter((a) => a.movieId === movieId);
    const told = mine.filter((a) => a.answer && !a.answer.code);
    const afterError = mine.filter((a) => a.answer?.commandId && commands.has(a.answer.commandId));
    const unknown = mine.filter((a) => a.answer?.code && !a.answer.commandId);
    const known = [...told, ...afterError];
    const extraCount = count - known.length;
    const extraSum = sum - known.reduce((s, a) => s + a.tenths, 0);
    if (extraCount < 0 || extraCount > unknown.length || extraSum < 0 || extraSum > unknown.reduce((s, a) => s + a.tenths, 0)) {
      problems.push(`movie ${movieId}: the log holds ${count} ratings summing to ${sum / 10}; clients were told ${told.length} were accepted and ${afterError.length} went through after an error, summing to ${(sum - extraSum) / 10} (+ up to ${unknown.length} unanswered)`);
    }
    details.push(`${movieId} ${count}/${sum / 10}`);
  }
  return { problems, detail: `count/sum as accepted: ${details.join(', ')}` };
}

/**
 * No driver is ever on two rides: in each driver's own ordered stream (drivers.events) it is put ON_RIDE only
 * when it was not on another ride, every DriverAssigned of rides.events is such a step, the ride it was on before
 * its next one has ended in rides.events (RideCompleted or RideCancelled: else, as the log tells it, the driver is
 * on both), and the projection has no driver with two rides under way.
 */
export async function rideProblems(prisma: PrismaClient, log: Map<string, LogMessage[]>): Promise<{ problems: string[]; detail: string }> {
  const problems: string[] = [];
  // As the system's readers do, a copy of an event (same id) counts once: copies are the invariant above's business.
  const read = (topic: string) => {
    const seen = new Set<string>();
    return (log.get(topic) ?? []).flatMap((message) => {
      const envelope = ridesContract.read(topic, RAW(message));
      if (envelope?.kind !== 'event' || seen.has(envelope.eventId)) return [];
      seen.add(envelope.eventId);
      return [envelope];
    });
  };
  const ended = new Set<string>();
  const assignedTo = new Map<string, Set<string>>(); // ride -> drivers assigned (more than one is wrong too)
  for (const event of read(RIDES.rideEvents)) {
    if (event.type === 'RideCompleted' || event.type === 'RideCancelled') ended.add(event.data.rideId);
    if (event.type === 'DriverAssigned') assignedTo.set(event.data.rideId, new Set([...(assignedTo.get(event.data.rideId) ?? []), event.data.driverId]));
  }
  for (const [rideId, drivers] of assignedTo) if (drivers.size > 1) problems.push(`ride ${rideId} was assigned to ${[...drivers].join(' and ')}`);
  const onRide = new Map<string, string | null>(); // driver -> its ride now, in its stream's order
  const putOn = new Map<string, Set<string>>(); // driver -> rides it was put on
  const lastRide = new Map<string, string>(); // driver -> the ride it was last put on
  let steps = 0;
  for (const event of read(RIDES.driverEvents)) {
    const { driverId } = event.data as { driverId: string };
    const current = onRide.get(driverId) ?? null;
    if (event.type === 'DriverStatusChanged' && event.data.status === 'ON_RIDE') {
      const rideId = event.data.rideId!;
      steps += 1;
      if (current !== null && current !== rideId) problems.push(`driver ${driverId} was put on ride ${rideId} while on ride ${current}`);
      const previous = lastRide.get(driverId);
      if (previous !== undefined && previous !== rideId && !ended.has(previous)) {
        problems.push(`driver ${driverId} was put on ride ${rideId} while its ride ${previous} never ended (rides.events has no RideCompleted or RideCancelled for it)`);
      }
      lastRide.set(driverId, rideId);
      putOn.set(driverId, new Set([...(putOn.get(driverId) ?? []), rideId]));
      onRide.set(driverId, rideId);
    } else if (event.type === 'DriverStatusChanged' || event.type === 'DriverWentOffline' || event.type === 'DriverWentOnline') {
      onRide.set(driverId, null);
    }
  }
  for (const [rideId, drivers] of assignedTo) {
    for (const driverId of drivers) if (!putOn.get(driverId)?.has(rideId)) problems.push(`ride ${rideId} was assigned to ${driverId}, whose stream never put it on that ride`);
  }
  const busy = await prisma.$queryRawUnsafe<{ driver_id: string; rides: string[] }[]>(
    `SELECT driver_id, array_agg(id ORDER BY id) AS rides FROM rides WHERE state IN ('DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS') GROUP BY driver_id HAVING count(*) > 1`,
  );
  for (const row of busy) problems.push(`the projection has driver ${row.driver_id} on rides ${row.rides.join(', ')} at once`);
  return { problems, detail: `${assignedTo.size} rides assigned, ${steps} ON_RIDE steps of ${putOn.size} drivers, never two rides at once` };
}
