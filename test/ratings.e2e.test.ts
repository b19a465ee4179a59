/**
 * Movie ratings through GraphQL against the whole system: the legacy catalog captured by Debezium on Kafka
 * Connect, the ratings service counting exactly, the rated movie written back to the log, and the live leaderboard.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { ratingsContract, TOPICS } from '../services/ratings/contract.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

const MOVIE = `id title releaseYear country genres rating { count average }`;
const RATE = `mutation($id: ID!, $rating: Float!) { rateMovie(movieId: $id, rating: $rating) { ${MOVIE} } }`;
const GET = `query($id: ID!) { movie(id: $id) { ${MOVIE} } }`;

let system: TestSystem;
let bus: Bus;
/** A movie id of the seeded catalog no other test of this file touches. */
let nextMovie = 100;
const freshMovie = () => String(nextMovie++);

beforeAll(async () => {
  system = await startSystem({ catalog: true });
  bus = await createBus({ clientId: 'ratings-test' });
  // The snapshot of the seeded catalog reaches the projection.
  await waitFor(async () => (await system.gql(GET, { id: '362' })).data?.movie !== null, 60_000, () => 'Lethal Weapon in the catalog');
}, 180_000);
afterAll(async () => {
  await bus?.close();
  await system?.stop();
});

async function rate(id: string, rating: number) {
  const result = await system.gql(RATE, { id, rating });
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data.rateMovie;
}

describe('rating movies', () => {
  it('averages Lethal Weapon (362) rated 10 and 8 to 9.0, visible in the answer itself (read-your-writes)', async () => {
    const movie = (await system.gql(GET, { id: '362' })).data.movie;
    expect(movie).toMatchObject({ id: '362', title: 'Lethal Weapon', releaseYear: 1987, rating: null });
    expect(await rate('362', 10)).toMatchObject({ rating: { count: 1, average: 10 } });
    expect(await rate('362', 8)).toMatchObject({ title: 'Lethal Weapon', rating: { count: 2, average: 9 } });
  });

  it('gives exactly 9.0 for three 9s, and exact averages where floats would drift', async () => {
    const id = freshMovie();
    for (let i = 0; i < 3; i += 1) await rate(id, 9);
    expect((await system.gql(GET, { id })).data.movie.rating).toEqual({ count: 3, average: 9 });
    const other = freshMovie();
    for (const r of [0.1, 0.2, 0.3]) await rate(other, r); // 0.1 + 0.2 + 0.3 in floats is 0.6000000000000001
    expect((await system.gql(GET, { id: other })).data.movie.rating).toEqual({ count: 3, average: 0.2 });
  });

  it('refuses a rating outside 0–10 or with two decimals, and an unknown movie, counting nothing', async () => {
    const id = freshMovie();
    for (const rating of [10.5, -1, 7.25]) {
      const result = await system.gql(RATE, { id, rating });
      expect(result.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'rating' });
    }
    expect((await system.gql(RATE, { id, rating: 7.25 })).errors?.[0].message).toMatch(/decimal/);
    for (const unknown of ['999999', 'not-a-number']) {
      expect((await system.gql(RATE, { id: unknown, rating: 5 })).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    }
    expect((await system.gql(GET, { id })).data.movie.rating).toBeNull();
  });

  it('follows the legacy table: an edited title reaches movie and rated-movies; a deleted movie disappears and its ratings are refused', async () => {
    const id = freshMovie();
    await rate(id, 6);
    const title = `Edited ${randomUUID().slice(0, 6)}`;
    await system.catalog!.sql('UPDATE movies SET title = $1 WHERE id = $2', [title, Number(id)]);
    await waitFor(async () => (await system.gql(GET, { id })).data.movie?.title === title, 20_000, () => 'the new title in movie()');
    // Written back to the log, joined with the exact totals.
    await waitFor(async () => {
      const rated = (await readTopic(bus, bus.topic(TOPICS.ratedMovies))).map((m) => ratingsContract.decode(m.value));
      return rated.some((e) => e.type === 'RatedMovieChanged' && e.data.movieId === id && e.data.title === title && e.data.count === 1 && e.data.average === 6);
    }, 20_000, () => 'the new title in rated-movies');

    await system.catalog!.sql('DELETE FROM movies WHERE id = $1', [Number(id)]);
    await waitFor(async () => (await system.gql(GET, { id })).data.movie === null, 20_000, () => 'the deleted movie to disappear');
    expect((await system.gql(RATE, { id, rating: 5 })).errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('tells a movie\'s history: its capture from the catalog, each rating\'s new totals, and its edits, oldest first', async () => {
    const id = freshMovie();
    await rate(id, 6);
    await rate(id, 8);
    const title = `Renamed ${randomUUID().slice(0, 6)}`;
    await system.catalog!.sql('UPDATE movies SET title = $1 WHERE id = $2', [title, Number(id)]);
    const HISTORY = `query($id: ID!) { movie(id: $id) { history(first: 50) { edges { node { type commandId actor { sub } data } } } } }`;
    let events: any[] = [];
    await waitFor(async () => {
      events = (await system.gql(HISTORY, { id })).data.movie?.history.edges.map((e: any) => e.node) ?? [];
      return events.some((e) => e.type === 'MovieUpserted' && e.data.title === title) && events.some((e) => e.type === 'RatedMovieChanged' && e.data.title === title);
    }, 20_000, () => `the edit in the history: ${JSON.stringify(events.map((e) => e.type))}`);
    expect(events[0]).toMatchObject({ type: 'MovieUpserted', data: { movieId: id } });
    const totals = events.filter((e) => e.type === 'RatedMovieChanged').map((e) => [e.data.count, e.data.average]);
    expect(totals.slice(0, 2)).toEqual([[1, 6], [2, 7]]);
    // The rating's command and who sent it: an admin reads both.
    expect(events.find((e) => e.type === 'RatedMovieChanged')).toMatchObject({ commandId: expect.any(String), actor: { sub: 'admin' } });
  });

  it('writes the new title back even when it was edited while the ratings service was down', async () => {
    const id = freshMovie();
    await rate(id, 8);
    await system.stopService('ratings');
    const title = `Edited offline ${randomUUID().slice(0, 6)}`;
    try {
      await system.catalog!.sql('UPDATE movies SET title = $1 WHERE id = $2', [title, Number(id)]);
      // Captured while the service is down: on restart it restores this change, and must still decide it.
      await waitFor(async () => (await readTopic(bus, bus.topic(TOPICS.movies))).some((m) => m.value?.toString().includes(title)), 20_000, () => 'the change on movies');
    } finally {
      await system.startService('ratings');
    }
    await waitFor(async () => {
      const rated = (await readTopic(bus, bus.topic(TOPICS.ratedMovies))).map((m) => ratingsContract.decode(m.value));
      return rated.some((e) => e.type === 'RatedMovieChanged' && e.data.movieId === id && e.data.title === title && e.data.count === 1);
    }, 20_000, () => 'the new title in rated-movies');
  });

  it('finds movies by title, a page at a time', async () => {
    const page = (await system.gql(`{ movies(search: "lethal weapon", first: 5) { edges { cursor node { id title } } pageInfo { hasNextPage endCursor } } }`)).data.movies;
    expect(page.edges.map((e: any) => e.node.id)).toContain('362');
    // A search is literal text: `%` and `_` match only themselves.
    for (const pattern of ['%', '_', '\\']) {
      expect((await system.gql(`query($s: String) { movies(search: $s) { edges { node { id } } } }`, { s: pattern })).data.movies.edges, pattern).toEqual([]);
    }
    const all = (await system.gql(`query($after: String) { movies(first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`)).data.movies;
    expect(all.edges).toHaveLength(100);
    expect(all.pageInfo.hasNextPage).toBe(true);
    const next = (await system.gql(`query($after: String) { movies(first: 100, after: $after) { edges { node { id } } } }`, { after: all.pageInfo.endCursor })).data.movies;
    expect(Number(next.edges[0].node.id)).toBeGreaterThan(Number(all.edges.at(-1).node.id));
  });

  it('pushes the new leaderboard order to a subscriber, ordered by average, then count, then id', async () => {
    const [a, b] = [freshMovie(), freshMovie()];
    const board = system.subscribe(`subscription { topRatedMoviesChanged(limit: 50, minRatings: 1) { id rating { count average } } }`);
    await board.received(1);
    await rate(a, 9.9);
    await waitFor(() => board.values.at(-1)?.topRatedMoviesChanged.some((m: any) => m.id === a), 20_000, () => JSON.stringify(board.values.at(-1)));
    await rate(b, 10);
    await waitFor(() => board.values.at(-1)?.topRatedMoviesChanged[0]?.id === b, 20_000, () => JSON.stringify(board.values.at(-1)));
    const list = board.values.at(-1).topRatedMoviesChanged;
    for (let i = 1; i < list.length; i += 1) {
      const [p, q] = [list[i - 1], list[i]];
      const order = p.rating.average - q.rating.average || p.rating.count - q.rating.count || Number(q.id) - Number(p.id);
      expect(order, `${JSON.stringify(p)} before ${JSON.stringify(q)}`).toBeGreaterThan(0);
    }
    await board.close();
  });

  it('sends boards of different sizes their own prefix of one order, and a late subscriber the board at once', async () => {
    const long = system.subscribe(`subscription { topRatedMoviesChanged(limit: 20, minRatings: 1) { id } }`);
    const short = system.subscribe(`subscription { topRatedMoviesChanged(limit: 3, minRatings: 1) { id } }`);
    await Promise.all([long.received(1), short.received(1)]);
    const ids = (b: typeof long) => b.values.at(-1)?.topRatedMoviesChanged.map((m: any) => m.id) as string[] | undefined;
    const queried = async () => (await system.gql(`{ topRatedMovies(limit: 20, minRatings: 1) { id } }`)).data.topRatedMovies.map((m: any) => m.id) as string[];
    await rate(freshMovie(), 10); // a new movie among the best: both boards change
    const expected = await queried();
    await waitFor(() => JSON.stringify(ids(long)) === JSON.stringify(expected), 20_000, () => JSON.stringify([ids(long), expected]));
    await waitFor(() => JSON.stringify(ids(short)) === JSON.stringify(expected.slice(0, 3)), 20_000, () => JSON.stringify([ids(short), expected]));
    // Joining a board whose state has not changed still gets that state first.
    const late = system.subscribe(`subscription { topRatedMoviesChanged(limit: 3, minRatings: 1) { id } }`);
    await late.received(1);
    expect(ids(late)).toEqual(expected.slice(0, 3));
    await Promise.all([long.close(), short.close(), late.close()]);
  });

  it('pushes every change of one movie to movieRatingChanged', async () => {
    const id = freshMovie();
    const changes = system.subscribe(`subscription($id: ID!) { movieRatingChanged(movieId: $id) { id rating { count average } } }`, { id });
    await changes.received(1);
    expect(changes.values[0].movieRatingChanged).toEqual({ id, rating: null });
    await rate(id, 4);
    await rate(id, 5);
    await waitFor(() => changes.values.at(-1)?.movieRatingChanged.rating?.count === 2, 20_000, () => JSON.stringify(changes.values));
    expect(changes.values.at(-1).movieRatingChanged.rating).toEqual({ count: 2, average: 4.5 });
    await changes.close();
  });

  it('counts a redelivered rating once', async () => {
    const id = freshMovie();
    const command = ratingsContract.command({ type: 'RateMovie', data: { movieId: id, rating: 7 } });
    await bus.publish([ratingsContract.outgoing(command), ratingsContract.outgoing(command)]);
    await system.restartService('ratings');
    await bus.publish([ratingsContract.outgoing(command)]);
    await rate(id, 3);
    expect((await system.gql(GET, { id })).data.movie.rating).toEqual({ count: 2, average: 5 });
  });
});
