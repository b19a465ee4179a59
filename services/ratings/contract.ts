/**
 * The ratings domain's contract: raw ratings in, the legacy movie catalog captured by Debezium, and the rated
 * movie (catalog joined with exact totals) written back to the log, as the Kafka talk shows.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  defineContract,
  type CommandOf, type EnvelopeOf, type EventEnvelope as AnyEventEnvelope, type EventOf, type RawMessage,
} from '../shared/messages.ts';
import { createLogger } from '../shared/log.ts';
import { readMovieChange } from './catalog-change.ts';
import { schemaIds } from '../shared/wire.ts';

export const TOPICS = {
  rawRatings: 'raw-ratings',
  movies: 'movies',
  ratedMovies: 'rated-movies',
} as const;

/** The Kafka Connect connector that captures the legacy catalog into `movies` (infra/connect/connect.ts), under TOPIC_PREFIX. */
export const CATALOG_CONNECTOR = 'movies-catalog';

const movieId = z.string().regex(/^-?\d{1,19}$/, 'a movie id is the legacy table\'s bigint');
const movie = {
  movieId,
  title: z.string(),
  releaseYear: z.number().int().nullable(),
  country: z.string().nullable(),
  genres: z.array(z.string()),
};
/** What was cut from the legacy row to fit the catalog's bounds (catalog-change.ts: CATALOG_BOUNDS); absent when nothing was. */
const reduced = z.array(z.string()).optional();
const byMovie = (d: { movieId: string }) => d.movieId;

const log = createLogger('ratings catalog');
const warned = new Set<string>();

/**
 * A reduced row is never silent: each process that reads it says so once (the event carries `reduced` too), and
 * the legacy database lists every such row (`movies_capture.reduced`, README).
 */
function warnReduced(eventId: string, movieId: string, what: string[]) {
  if (warned.has(eventId)) return;
  if (warned.size >= 10_000) warned.clear(); // a bound on memory; at worst a line is repeated
  warned.add(eventId);
  log.warn(`movie ${movieId} from the legacy catalog is larger than the system keeps and arrived reduced (${what.join('; ')}); the legacy row is unchanged`);
}

/**
 * The boundary where Debezium's format stops: a change of the legacy `movies` table (Avro, decoded by its schema
 * id) becomes a catalog event. Its id is a hash of the decoded change, so the same change delivered twice (Connect
 * restarted before its offsets were flushed) is the same event, decided once. Debezium stamps the top-level `ts_ms`,
 * `ts_us` and `ts_ns` when it sends, so a re-sent change differs in those alone (test/ratings-crash.int.test.ts):
 * they are left out of the hash (catalog-change.ts: `identity`).
 */
function readCatalogChange(message: RawMessage) {
  const read = readMovieChange(message.key, message.value, schemaIds());
  if (!read) return undefined; // a tombstone: the removal before it said it all
  const { change, identity } = read;
  const eventId = `movies:${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`;
  if (change.type === 'MovieUpserted' && change.movie.reduced) warnReduced(eventId, change.movie.movieId, change.movie.reduced);
  const at = new Date(Number(message.timestamp ?? 0)).toISOString();
  const envelope = { kind: 'event', eventId, correlationId: eventId, causationId: eventId, schemaVersion: 1, occurredAt: at } as const;
  return change.type === 'MovieUpserted'
    ? { ...envelope, type: 'MovieUpserted', aggregateId: change.movie.movieId, data: change.movie }
    : { ...envelope, type: 'MovieRemoved', aggregateId: change.movieId, data: { movieId: change.movieId } };
}

export const ratingsContract = defineContract({
  domain: 'ratings',
  topics: {
    [TOPICS.rawRatings]: {},
    [TOPICS.movies]: { compacted: true, external: readCatalogChange as never, connector: CATALOG_CONNECTOR },
    [TOPICS.ratedMovies]: { compacted: true },
  },
  commands: {
    /** A user's rating, 0–10 with at most one decimal (checked again by the service: the log may hold anything). */
    RateMovie: { schema: z.object({ movieId, rating: z.number() }), topic: TOPICS.rawRatings, schemaVersion: 1, key: byMovie },
  },
  events: {
    /** A movie of the legacy catalog, as it is now (read from Debezium's change). */
    MovieUpserted: { schema: z.object({ ...movie, reduced }), topic: TOPICS.movies, schemaVersion: 1, key: byMovie },
    MovieRemoved: { schema: z.object({ movieId }), topic: TOPICS.movies, schemaVersion: 1, key: byMovie },
    /** The rated movie: the catalog joined with exact totals. `sum` and `average` derive from integer tenths. */
    RatedMovieChanged: {
      schema: z.object({
        movieId,
        title: z.string(),
        releaseYear: z.number().int().nullable(),
        count: z.number().int().positive(),
        sumTenths: z.number().int().nonnegative(),
        sum: z.number(),
        average: z.number(),
      }),
      topic: TOPICS.ratedMovies, schemaVersion: 1, key: byMovie,
    },
    /** The movie left the catalog: its rated record goes too. */
    RatedMovieRemoved: { schema: z.object({ movieId }), topic: TOPICS.ratedMovies, schemaVersion: 1, key: byMovie },
  },
  roles: ['customer'],
  errorCodes: [],
  services: [{ name: 'ratings', inputs: [TOPICS.rawRatings, TOPICS.movies] }],
  projections: [
    { name: 'ratings-projector', process: 'ratings', topics: [TOPICS.movies, TOPICS.ratedMovies], tables: ['movies'] },
  ],
});

export type RatingsContract = typeof ratingsContract;
export type Command = CommandOf<RatingsContract>;
export type DomainEvent = EventOf<RatingsContract>;
export type Envelope = EnvelopeOf<RatingsContract>;
export type EventEnvelope<E extends DomainEvent = DomainEvent> = AnyEventEnvelope<E>;
