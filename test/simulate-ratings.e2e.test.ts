/**
 * The ratings simulator against the whole system (catalog captured by Debezium): a short load straight onto
 * raw-ratings, then every movie's count and average in the system equal exactly what was sent.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseSimulateArgs, simulateRatings, targetOf } from '../scripts/simulate-ratings.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

let system: TestSystem;
const IDS = ['1', '2', '3', '4', '5'];

beforeAll(async () => {
  system = await startSystem({ catalog: true });
  // The catalog's snapshot has reached the projection (the simulator refuses movies the catalog lacks).
  await waitFor(async () => (await system.gql(`{ movie(id: "5") { id } }`)).data?.movie != null, 60_000, () => 'movies 1–5 in the catalog');
}, 180_000);
afterAll(async () => {
  await system?.stop();
});

it('counts every simulated rating once: the system\'s average per movie is the exact average of what was sent', async () => {
  const lines: string[] = [];
  const result = await simulateRatings({
    movieIds: IDS, rate: 200, seconds: 2, via: 'kafka', gatewayUrl: system.gateways[0].url, waitMs: 30_000, log: (l) => lines.push(l),
  });
  expect(result.sent).toBe(400);
  expect(result.caughtUp).toBe(true);
  expect(result.matches, lines.join('\n')).toBe(true);
  for (const movie of result.movies) {
    // Independently of the simulator's bookkeeping: integer tenths of what it sent, and the gateway's answer now.
    const tenths = movie.ratings.map((r) => Math.round(r * 10));
    tenths.forEach((t, i) => expect(t >= 0 && t <= 100 && t / 10 === movie.ratings[i]).toBe(true)); // 0–10, one decimal
    const exact = tenths.reduce((a, b) => a + b, 0) / (tenths.length * 10);
    const { data } = await system.gql(`query($id: ID!) { movie(id: $id) { title rating { count average } } }`, { id: movie.movieId });
    expect(data.movie.rating).toEqual({ count: movie.ratings.length, average: exact });
    expect(movie.title).toBe(data.movie.title);
    expect(movie.target).toBe(targetOf(movie.movieId));
  }
  expect(result.movies.reduce((n, m) => n + m.ratings.length, 0)).toBe(400);
  expect(lines.some((l) => /sent 400 ratings/.test(l))).toBe(true);
}, 90_000);

it('sends through the gateway with --via graphql, each rating counted once', async () => {
  const result = await simulateRatings({
    movieIds: ['6', '7'], rate: 20, seconds: 1, via: 'graphql', clients: 4, gatewayUrl: system.gateways[0].url, waitMs: 30_000, log: () => {},
  });
  expect(result.sent + result.failed).toBe(20);
  expect(result.failed).toBe(0);
  expect(result.matches).toBe(true);
}, 60_000);

it('refuses bad flags', () => {
  for (const argv of [['--rate', '0'], ['--via', 'smoke'], ['--movies', '2000'], ['--ids', '1,x'], ['--seconds', '1.5'], ['--bogus'], ['--movies', '3', '--ids', '1']]) {
    expect(parseSimulateArgs(argv), argv.join(' ')).toHaveProperty('error');
  }
  expect(parseSimulateArgs(['--ids', '362,11', '--rate', '50'])).toMatchObject({ movieIds: ['362', '11'], rate: 50, via: 'kafka', seconds: 60 });
});
