/**
 * The ratings domain's fold (services/ratings/graphql/movie-fold.ts, which the live movie feed folds changes with)
 * against its SQL projection (services/ratings/projections/movies.ts) on a real PostgreSQL: for random histories of
 * a movie (catalog edits, removals and re-additions, ratings before and after the catalog was read), each projected
 * as a replay may read it (its two topics interleaved at random, in random batches), the fold of the history in the
 * event index's order gives the projection's row. A removed movie is hidden, so of it only its removal is compared.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ratingsContract, TOPICS, type DomainEvent, type EventEnvelope } from '../services/ratings/contract.ts';
import { foldMovie } from '../services/ratings/graphql/movie-fold.ts';
import { moviesProjection } from '../services/ratings/projections/movies.ts';
import { createPrisma, sqlOf, type PrismaClient } from '../services/shared/db.ts';
import type { Movie } from '../generated/prisma/client.ts';
import { eventOf } from './support/decider.ts';
import { random, randomBatches, type Random } from './support/random.ts';
import { freshDatabase } from './support/system.ts';

const CASES = 80;
let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await freshDatabase('ratings_fold');
  prisma = createPrisma(database.url);
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

/** One movie's events as the catalog capture and the ratings service wrote them, each a few ms (or none) apart. */
function randomHistory(rng: Random, movieId: string): EventEnvelope[] {
  let clock = Date.UTC(2026, 11, 7, 12) + rng.int(1000);
  const at = () => new Date((clock += rng.pick([0, 1, 3, 40])));
  const event = (e: DomainEvent) => eventOf(ratingsContract, e, at());
  const log: EventEnvelope[] = [];
  let title = rng.pick(['Heat', 'Ronin', 'Thief']);
  let releaseYear: number | null = rng.pick([1981, 1995, null]);
  let count = 0;
  let sumTenths = 0;
  for (let step = 0, steps = 1 + rng.int(8); step < steps; step += 1) {
    const what = rng.pick(['upsert', 'upsert', 'rate', 'rate', 'rate', 'remove', 'unrate'] as const);
    if (what === 'upsert') {
      title = rng.pick(['Heat', 'Heat (1995)', 'Ronin', 'Thief']);
      releaseYear = rng.pick([1981, 1995, 1998, null]);
      const genres = rng.shuffle(['Crime', 'Drama', 'Thriller']).slice(0, rng.int(3));
      log.push(event({ type: 'MovieUpserted', data: { movieId, title, releaseYear, country: rng.pick(['US', 'FR', null]), genres } }));
    } else if (what === 'rate') {
      count += 1;
      sumTenths += rng.int(101);
      log.push(event({ type: 'RatedMovieChanged', data: { movieId, title, releaseYear, count, sumTenths, sum: sumTenths / 10, average: sumTenths / 10 / count } }));
    } else if (what === 'remove') {
      log.push(event({ type: 'MovieRemoved', data: { movieId } }));
    } else {
      log.push(event({ type: 'RatedMovieRemoved', data: { movieId } }));
    }
  }
  return log;
}

const topicOf = (e: EventEnvelope) => (e.type === 'MovieUpserted' || e.type === 'MovieRemoved' ? TOPICS.movies : TOPICS.ratedMovies);

/** What is compared: a removed movie is hidden whatever else its row holds. */
const shown = (movie: Movie | null) => (movie?.removed ? { id: movie.id, removed: true } : movie);

it(`folds ${CASES} random movie histories into the projection's rows`, async () => {
  const seed = Date.now() % 1_000_000;
  for (let n = 0; n < CASES; n += 1) {
    const rng = random(seed + n);
    const movieId = String(1_000_000 + seed * 100 + n);
    const log = randomHistory(rng, movieId);
    const byTopic = [log.filter((e) => topicOf(e) === TOPICS.movies), log.filter((e) => topicOf(e) === TOPICS.ratedMovies)];
    for (const batch of randomBatches(rng, byTopic)) await sqlOf(prisma).transaction((tx) => moviesProjection.apply(tx, batch as never, []));
    // The event index's order: time, then topic, then offset (each topic's own order).
    const indexed = [...byTopic[0].map((e, offset) => ({ e, offset })), ...byTopic[1].map((e, offset) => ({ e, offset }))]
      .sort((a, b) => Date.parse(a.e.occurredAt) - Date.parse(b.e.occurredAt) || topicOf(a.e).localeCompare(topicOf(b.e)) || a.offset - b.offset)
      .map(({ e }) => e);
    const folded = indexed.reduce<Movie | null>(foldMovie, null);
    const projected = await prisma.movie.findUnique({ where: { id: BigInt(movieId) } });
    expect(shown(folded), `seed ${rng.seed}: ${indexed.map((e) => `${e.type}@${e.occurredAt.slice(17)}`).join(', ')}`).toEqual(shown(projected));
  }
});
